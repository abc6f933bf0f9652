public import Foundation

/// A `revalidate_tenant` task recorded in the transaction of the change that calls for it (a tier or
/// tool catalog change), so that it is queued at least once whatever happens after the commit.
public struct Revalidation: Sendable, Hashable {
    public var taskID: UUID
    public var tenantID: TenantID
    /// `tier_changed` or `tool_catalog_changed`.
    public var reason: String
    public var recordedAt: Date

    public init(taskID: UUID, tenantID: TenantID, reason: String, recordedAt: Date) {
        self.taskID = taskID
        self.tenantID = tenantID
        self.reason = reason
        self.recordedAt = recordedAt
    }

    /// The task as it is queued: its id is the record's, so a record queued twice is one task, and a
    /// finished task's second entry does not run it again.
    public var task: TaskMessage {
        TaskMessage(
            taskID: taskID,
            tenantID: tenantID,
            type: .revalidateTenant,
            priority: 3,
            createdAt: recordedAt,
            metadata: ["source": .string("system"), "reason": .string(reason)]
        )
    }
}
