import Domain
import Logging
import ServiceLifecycle

/// Sink 2 on this replica: reads every new event once (one query for all tenants, whatever their
/// number) and hands each to its tenant's WebSocket subscribers. With no subscriber it only keeps
/// up with the newest sequence; a subscriber that missed something replays it itself (`since`).
struct SubscriberSink: Service {
    let store: any EventStore
    let feed: EventFeed
    let subscribers: Subscribers
    var batch = 500
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var position: Int64?
            for await newest in feed.follow() {
                // From the newest sequence when it started: older events are replayed on request.
                guard var from = position else {
                    position = newest
                    continue
                }
                while from < newest, !Task.isCancelled {
                    if subscribers.isEmpty {
                        from = newest
                        break
                    }
                    do {
                        let events = try await store.events(after: from, limit: batch)
                        guard let last = events.last?.sequence else { break }
                        subscribers.publish(events)
                        from = last
                    } catch {
                        logger.warning("events could not be read for subscribers", metadata: ["error": "\(String(reflecting: error))"])
                        try? await Task.sleep(for: .milliseconds(500))
                    }
                }
                position = from
            }
        }
    }
}
