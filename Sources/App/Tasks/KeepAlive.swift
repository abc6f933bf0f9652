import Domain
import Infra
import Logging
import Synchronization

/// Keeps a batch's entries from being claimed by another process while it runs: every third of
/// the visibility timeout the tenant's lease is renewed and their idle time reset. Once the lease
/// is found another's (it expired meanwhile, and was taken), the batch starts nothing more: its
/// entries not yet done are the new holder's, left to it unacknowledged.
final class KeepAlive: Sendable {
    let queue: RedisTaskQueue
    let settings: TaskSettings
    let tenant: TenantID
    let entries: [QueuedEntry]
    let logger: Logger
    private let lostLease = Atomic<Bool>(false)

    init(queue: RedisTaskQueue, settings: TaskSettings, tenant: TenantID, entries: [QueuedEntry], logger: Logger) {
        self.queue = queue
        self.settings = settings
        self.tenant = tenant
        self.entries = entries
        self.logger = logger
    }

    /// Whether the tenant's lease was found to be another process's.
    var lost: Bool { lostLease.load(ordering: .acquiring) }

    /// Until cancelled, or until the lease is lost. While Redis does not answer the lease is held
    /// to be this process's still; if it expires meanwhile, the next renewal finds out.
    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.visibilityTimeout / 3) } catch { return }
            do {
                guard try await queue.renewLease(tenant, keeping: entries, for: settings.visibilityTimeout) else {
                    logger.warning("task lease lost to another replica")
                    lostLease.store(true, ordering: .releasing)
                    return
                }
            } catch {
                logger.warning("task lease could not be renewed", metadata: ["error": "\(error)"])
            }
        }
    }
}
