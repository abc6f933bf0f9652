public import Foundation

/// One committed change, in the order of commits (`sequence`), as the notifier hands it to sinks.
public struct ChangeEvent: Sendable, Equatable {
    public var sequence: Int64
    public var eventID: UUID
    public var tenantID: TenantID
    public var event: String
    public var agentID: UUID?
    public var taskID: UUID?
    public var globalTaskID: String?
    /// The event's `data` as stored, JSON text embedded in the envelope as it is.
    public var data: String
    public var timestamp: Date

    public static let service = "agent-management-service"

    public init(
        sequence: Int64, eventID: UUID, tenantID: TenantID, event: String, agentID: UUID?, taskID: UUID?, globalTaskID: String?,
        data: String, timestamp: Date
    ) {
        self.sequence = sequence
        self.eventID = eventID
        self.tenantID = tenantID
        self.event = event
        self.agentID = agentID
        self.taskID = taskID
        self.globalTaskID = globalTaskID
        self.data = data
        self.timestamp = timestamp
    }

    /// The envelope every sink sends (names fixed by the platform's contract).
    public var envelope: [UInt8] {
        var w = JSONWriter(capacity: 256 + data.utf8.count)
        w.beginObject()
        w.field("event", event)
        w.field("service", Self.service)
        w.field("event_id", eventID.uuidString.lowercased())
        w.key("sequence")
        w.raw(String(sequence).utf8)
        w.field("task_id", taskID?.uuidString.lowercased())
        w.field("global_task_id", globalTaskID)
        w.field("tenant_id", tenantID)
        w.field("timestamp", Agent.timestamp(timestamp))
        w.key("data")
        w.raw(data.utf8)
        w.endObject()
        return w.bytes
    }
}
