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
    /// The W3C trace context of the call that wrote the event (`nil`: not traced), carried on by
    /// every frame (a `traceparent` field) and webhook delivery (the header).
    public var traceparent: String?

    public static let service = "agent-management-service"

    public init(
        sequence: Int64,
        eventID: UUID,
        tenantID: TenantID,
        event: String,
        agentID: UUID?,
        taskID: UUID?,
        globalTaskID: String?,
        data: String,
        timestamp: Date,
        traceparent: String? = nil
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
        self.traceparent = traceparent
    }

    /// The envelope every sink sends (names fixed by the platform's contract); `traceparent` only
    /// when the event was written in a trace.
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
        if let traceparent { w.field("traceparent", traceparent) }
        w.key("data")
        w.raw(data.utf8)
        w.endObject()
        return w.bytes
    }

    /// Events about one agent, which the orchestrator also hears on the tenant's channel.
    public static let agentEvents: Set<String> = [
        "agent_created", "agent_updated", "agent_deleted", "agent_restored", "agent_status_changed", "agent_validated",
    ]

    /// `{"channel": "tenant:<tenant_id>", "event", "data": {"agent_id", "agent_name"}}` for an agent
    /// event (`nil` for others), with the envelope's `traceparent` when it has one. The name is the
    /// event's own; events that carry none (a status change, a validation) give `null`.
    public var tenantChannelFrame: [UInt8]? {
        guard Self.agentEvents.contains(event), let agentID else { return nil }
        var name: String?
        if case .object(let fields)? = JSONValue.parse(Array(data.utf8)), case .string(let value)? = fields["agent_name"] { name = value }
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.field("channel", "tenant:" + tenantID)
        w.field("event", event)
        if let traceparent { w.field("traceparent", traceparent) }
        w.key("data")
        w.beginObject()
        w.field("agent_id", agentID.uuidString.lowercased())
        w.field("agent_name", name)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
