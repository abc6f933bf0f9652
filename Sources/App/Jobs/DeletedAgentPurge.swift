import Domain
import Logging
import ServiceLifecycle

/// Removes agents deleted longer ago than the retention window, every `interval`. Every replica
/// runs one; the store lets only one purge at a time, so the others find nothing to do.
struct DeletedAgentPurge: Service {
    let store: any AgentStore
    let retention: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Not at once: migrations run as the server starts, and a replica that restarts often
            // should still get to purge.
            try? await Task.sleep(for: min(interval, .seconds(60)))
            while !Task.isCancelled {
                await purgeOnce()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func purgeOnce() async {
        do {
            let purged = try await store.purgeDeleted(retention: retention)
            if purged > 0 { logger.info("purged deleted agents", metadata: ["count": "\(purged)"]) }
        } catch {
            logger.warning("purge of deleted agents failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
