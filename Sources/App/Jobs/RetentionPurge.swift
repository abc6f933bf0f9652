import Domain
import Logging
import ServiceLifecycle

/// Removes what outlived its retention window, every `interval`: agents deleted longer ago than
/// `deletedRetention` (with their versions; idempotency keys past 24 h go too) and tasks finished
/// longer ago than `taskRetention`. Every replica runs one; the stores let only one purge of each
/// at a time, so the others find nothing to do.
struct RetentionPurge: Service {
    let agents: any AgentStore
    let tasks: any TaskStore
    let deletedRetention: Duration
    let taskRetention: Duration
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
            let purged = try await agents.purgeDeleted(retention: deletedRetention)
            if purged > 0 { logger.info("purged deleted agents", metadata: ["count": "\(purged)"]) }
        } catch {
            logger.warning("purge of deleted agents failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        do {
            let purged = try await tasks.purgeFinished(retention: taskRetention)
            if purged > 0 { logger.info("purged finished tasks", metadata: ["count": "\(purged)"]) }
        } catch {
            logger.warning("purge of finished tasks failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
