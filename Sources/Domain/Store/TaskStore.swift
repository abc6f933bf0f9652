public import Foundation

/// Tasks in Postgres, tenant-scoped like agents. Every status change also records its task event
/// (`task_status_update`, `task_completed`, `task_failed`) in the same transaction, for the notifier.
public protocol TaskStore: Sendable {
    /// Records a task as `pending` (before it is queued); an existing task is left as it is
    /// (`false`: the id was known).
    @discardableResult
    func recordPending(_ task: TaskMessage) async throws -> Bool
    /// Forgets a pending task that could not be queued.
    func discardPending(_ id: UUID, tenant: TenantID) async throws
    /// Marks tasks `processing` (one more attempt each) and answers their records; tasks already
    /// finished are answered as they are, untouched, so a redelivery does not run them again.
    func start(_ tasks: [TaskMessage], tenant: TenantID) async throws -> [UUID: TaskRecord]
    /// Hands started tasks back unrun (this replica is stopping): `pending` again, the attempt not counted.
    func release(_ ids: [UUID], tenant: TenantID) async throws
    /// Where a long task got to, so that another replica can resume it. `details` is what it did
    /// since its last report: its array members are appended to the task's result so far, its other
    /// members replace theirs, so a report costs what it adds, not all that came before.
    func progress(_ id: UUID, tenant: TenantID, progress: Int, checkpoint: Int64?, details: JSONValue?) async throws
    /// Records how tasks ended.
    func finish(_ outcomes: [(id: UUID, outcome: TaskOutcome)], tenant: TenantID) async throws
    func task(_ id: UUID, tenant: TenantID) async throws -> TaskRecord?
    func tasks(tenant: TenantID, status: TaskStatus?, type: TaskType?, limit: Int, before: Int64?) async throws -> Page<TaskRecord>
    /// Removes tasks that finished longer than `retention` ago, across tenants; answers how many.
    func purgeFinished(retention: Duration) async throws -> Int
    /// Revalidations that tier and tool catalog changes recorded with their commit and that are due,
    /// oldest first, each handed out for `lease`: one not settled by then is handed out again.
    func claimRevalidations(limit: Int, lease: Duration) async throws -> [Revalidation]
    /// Forgets the revalidations now `queued`; those to `retry` are due again at once.
    func settleRevalidations(queued: [UUID], retry: [UUID]) async throws
}
