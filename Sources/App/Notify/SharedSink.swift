import CoreMetrics
import Domain
import Logging
import ServiceLifecycle

/// Delivers every event to a sink that the replicas share (one Redis, one orchestrator), from the
/// position stored in Postgres, on the replica that leads the notifier. A batch is delivered and
/// the position moved under the sink's row lock, so even while leadership changes hands events go
/// out in order; none is skipped while the sink is away, and it resumes where it stopped.
struct SharedSink: Service {
    let name: String
    let sink: any EventSink
    let store: any EventStore
    let feed: EventFeed
    let notifier: Notifier
    var batch = 500
    let lag: CoreMetrics.Gauge
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var delivered: Int64 = -1
            var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
            for await newest in feed.follow() {
                while delivered < newest, notifier.isLeading, !Task.isCancelled {
                    do {
                        // nil: another replica is delivering this sink; the next change or sweep looks again.
                        guard let position = try await store.deliver(sink: name, limit: batch, { try await sink.deliver($0) }) else { break }
                        backoff.reset()
                        feed.report(name, delivered: position)
                        lag.record(max(0, feed.newest - position))
                        if position == delivered { break }
                        delivered = position
                    } catch {
                        logger.warning("events could not be delivered", metadata: ["sink": "\(name)", "error": "\(String(reflecting: error))"])
                        try? await Task.sleep(for: backoff.next())
                    }
                }
            }
        }
    }
}
