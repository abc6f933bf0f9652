import CoreMetrics
import Domain
import Logging
import ServiceLifecycle

/// Sink 2 on this replica: reads every new event once (one query for all tenants, whatever their
/// number) and hands each to its tenant's WebSocket subscribers. It starts from the first newest
/// sequence the notifier learns (from the database, or the leader's notice), and subscribers wait
/// for that start before they replay (`since`), so what they replay and what they receive live
/// leave no gap. With no subscriber it only keeps up with the newest sequence. When it stops,
/// every subscriber's stream ends.
struct SubscriberSink: Service {
    static let name = "subscribers"

    let store: any EventStore
    let feed: EventFeed
    let subscribers: Subscribers
    var batch = 500
    let lag: CoreMetrics.Gauge
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var position: Int64?
            for await newest in feed.follow() {
                guard let from = position else {
                    position = newest
                    subscribers.start(at: newest)
                    continue
                }
                let reached = await deliver(after: from, through: newest)
                position = reached
                feed.report(Self.name, delivered: reached)
                lag.record(max(0, feed.newest - reached))
            }
        }
        subscribers.finishAll()
    }

    /// Hands the subscribers the events after `from` up to `newest`; answers where it got to.
    private func deliver(after start: Int64, through newest: Int64) async -> Int64 {
        var from = start
        while from < newest, !Task.isCancelled {
            if subscribers.skip(through: newest) { return newest }
            do {
                let kept = feed.recent(after: from, limit: batch)
                let events = if let kept { kept } else { try await store.events(after: from, limit: batch) }
                guard let last = events.last?.sequence else { break }
                subscribers.publish(events)
                from = last
            } catch {
                logger.warning("events could not be read for subscribers", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        return from
    }
}
