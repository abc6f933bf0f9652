import Domain
import Logging
import ServiceLifecycle

/// Removes announced events older than the outbox retention, every `interval`, on the replica
/// that leads the notifier. A tenant WebSocket that asks to replay from before what is left is
/// told to resync instead.
struct EventPurge: Service {
    let store: any EventStore
    let retention: Duration
    let interval: Duration
    let notifier: Notifier
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            try? await Task.sleep(for: min(interval, .seconds(60)))
            while !Task.isCancelled {
                if notifier.isLeading { await purgeOnce() }
                try? await Task.sleep(for: interval)
            }
        }
    }

    func purgeOnce() async {
        do {
            let purged = try await store.purgeEvents(retention: retention)
            if purged > 0 { logger.info("purged old events", metadata: ["count": "\(purged)"]) }
        } catch {
            logger.warning("purge of old events failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
