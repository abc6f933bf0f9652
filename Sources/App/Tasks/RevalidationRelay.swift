import Domain
import Foundation
import Logging
import ServiceLifecycle

/// Queues the `revalidate_tenant` tasks that tier and tool catalog changes record in their own
/// transaction (`Revalidation`), at least once: a record is forgotten only after its task is on the
/// tenant's queue, and while Redis (or Postgres) is away it is tried again after a growing wait. A
/// change on this replica wakes it at once; every `sweep` it also looks for what a replica that died
/// meanwhile left behind (its claims lapse after `lease`).
struct RevalidationRelay: Service {
    let tasks: any TaskStore
    let enqueuer: TaskEnqueuer
    /// Opened once the schema is migrated: the first look waits for it.
    let migrated: Gate
    var sweep: Duration = .seconds(30)
    /// How long a claimed record is this replica's to queue; past it, another may queue it again
    /// (the same task id, so the task stays one).
    var lease: Duration = .seconds(30)
    var batch = 100
    let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    init(tasks: any TaskStore, enqueuer: TaskEnqueuer, migrated: Gate, logger: Logger) {
        self.tasks = tasks
        self.enqueuer = enqueuer
        self.migrated = migrated
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// A change recorded revalidations: queue them now, not at the next sweep.
    func wake() { wakeup.yield() }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await migrated.wait()
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        wakeup.yield()
                        try? await Task.sleep(for: sweep)
                    }
                }
                var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
                for await _ in wakeups {
                    while await !relayDue() {
                        do { try await Task.sleep(for: backoff.next()) } catch { break }
                    }
                    backoff.reset()
                }
                group.cancelAll()
            }
        }
    }

    /// Queues every due record; `false` when one could not be queued or settled (it is due again).
    func relayDue() async -> Bool {
        while true {
            let claimed: [Revalidation]
            do {
                claimed = try await tasks.claimRevalidations(limit: batch, lease: lease)
            } catch {
                logger.warning("revalidations could not be read", metadata: ["error": "\(String(reflecting: error))"])
                return false
            }
            var queued: [UUID] = []
            var failure: (any Error)?
            for revalidation in claimed where failure == nil {
                do {
                    try await enqueuer.enqueue(revalidation.task)
                    queued.append(revalidation.taskID)
                } catch {
                    // Redis away: the rest would fail the same way.
                    failure = error
                }
            }
            let retry = claimed.map(\.taskID).filter { !queued.contains($0) }
            do {
                try await tasks.settleRevalidations(queued: queued, retry: retry)
            } catch {
                // Unsettled records are due again when their lease ends; their tasks are queued again then.
                logger.warning("revalidations could not be settled", metadata: ["error": "\(String(reflecting: error))"])
                return false
            }
            if let failure {
                logger.warning(
                    "revalidations could not be queued",
                    metadata: ["count": "\(retry.count)", "error": "\(String(reflecting: failure))"]
                )
                return false
            }
            if claimed.count < batch { return true }
        }
    }
}
