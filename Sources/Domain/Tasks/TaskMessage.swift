public import Foundation

/// The task message producers put in a queue entry's `message` field, as JSON. Read strictly
/// enough that a wrong entry is refused with a clear reason before anything runs; members this
/// service does not know are accepted and not kept (a dead letter keeps the entry as it was sent).
public struct TaskMessage: Sendable, Hashable {
    public static let defaultMaxAttempts = 5

    public var taskID: UUID
    public var tenantID: TenantID
    public var type: TaskType
    public var priority: Int
    public var createdAt: Date
    public var globalTaskID: String?
    public var maxAttempts: Int
    public var metadata: [String: JSONValue]
    public var payload: [String: JSONValue]

    public init(
        taskID: UUID = UUID(),
        tenantID: TenantID,
        type: TaskType,
        priority: Int = 5,
        createdAt: Date = Date.now,
        globalTaskID: String? = nil,
        maxAttempts: Int = defaultMaxAttempts,
        metadata: [String: JSONValue] = [:],
        payload: [String: JSONValue] = [:]
    ) {
        self.taskID = taskID
        self.tenantID = tenantID
        self.type = type
        self.priority = priority
        self.createdAt = createdAt
        self.globalTaskID = globalTaskID
        self.maxAttempts = maxAttempts
        self.metadata = metadata
        self.payload = payload
    }

    /// Parses and checks a message: the fields every task has, and what its type needs in `payload`.
    public init(json: JSONValue) throws(ServiceError) {
        guard case .object(let o) = json else { throw .malformed("A task message must be a JSON object") }
        func string(_ key: String, nullable: Bool = false) throws(ServiceError) -> String? {
            switch o[key] {
            case nil: return nil
            case .null? where nullable: return nil
            case .string(let s)?: return s
            default: throw .malformed("\(key) must be a string", field: key)
            }
        }
        guard let rawID = try string("task_id") else { throw .malformed("task_id is required", field: "task_id") }
        guard let id = UUID(canonical: rawID) else { throw .malformed("task_id must be a UUID", field: "task_id") }
        guard let tenant = try string("tenant_id"), Tenant.isValidID(tenant) else {
            throw .malformed("tenant_id is required: 1–128 printable characters without spaces", field: "tenant_id")
        }
        guard let rawType = try string("type") else { throw .malformed("type is required", field: "type") }
        guard let type = TaskType(rawValue: rawType) else {
            throw .malformed("type must be one of \(TaskType.allCases.map(\.rawValue).joined(separator: ", "))", field: "type")
        }
        var priority = 5
        if let raw = o["priority"] {
            guard case .int(let p) = raw, (0...9).contains(p) else { throw .malformed("priority must be an integer from 0 to 9", field: "priority") }
            priority = p
        }
        var maxAttempts = Self.defaultMaxAttempts
        if let raw = o["max_attempts"] {
            guard case .int(let n) = raw, (1...100).contains(n) else {
                throw .malformed("max_attempts must be an integer from 1 to 100", field: "max_attempts")
            }
            maxAttempts = n
        }
        var createdAt = Date.now
        if let raw = try string("created_at") {
            guard let date = Self.parseTimestamp(raw) else { throw .malformed("created_at must be an RFC 3339 time", field: "created_at") }
            createdAt = date
        }
        let metadata: [String: JSONValue]
        switch o["metadata"] {
        case nil: metadata = [:]
        case .object(let m)?: metadata = m
        default: throw .malformed("metadata must be an object", field: "metadata")
        }
        let payload: [String: JSONValue]
        switch o["payload"] {
        case nil: payload = [:]
        case .object(let p)?: payload = p
        default: throw .malformed("payload must be an object", field: "payload")
        }
        self.init(
            taskID: id,
            tenantID: tenant,
            type: type,
            priority: priority,
            createdAt: createdAt,
            globalTaskID: try string("global_task_id", nullable: true),
            maxAttempts: maxAttempts,
            metadata: metadata,
            payload: payload
        )
        try checkPayload()
    }

    /// What each type needs, so that a task missing it fails at once instead of after its retries.
    private func checkPayload() throws(ServiceError) {
        func require(_ key: String, _ kind: String) throws(ServiceError) {
            let ok =
                switch (kind, payload[key]) {
                case ("object", .object?), ("string", .string?): true
                case ("uuid", .string(let s)?): UUID(canonical: s) != nil
                default: false
                }
            guard ok else {
                throw .malformed(
                    "payload.\(key) is required for \(type.rawValue) (\(kind == "uuid" ? "an agent id" : "an \(kind)"))",
                    field: "payload.\(key)"
                )
            }
        }
        switch type {
        case .agentCreate: try require("config", "object")
        case .agentUpdate:
            try require("agent_id", "uuid")
            try require("config", "object")
        case .agentDelete, .agentNotify: try require("agent_id", "uuid")
        case .agentValidate:
            if payload["agent_id"] != nil { try require("agent_id", "uuid") } else { try require("config", "object") }
        case .templateCreate: try require("template", "object")
        case .bulkUpdate:
            try require("filter", "object")
            try require("patch", "object")
        case .revalidateTenant, .sync: break
        }
    }

    public var agentID: UUID? { payload["agent_id"]?.stringValue.flatMap(UUID.init(uuidString:)) }

    /// The message as producers write it, `status` being the state it was queued in.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "task_id": .string(taskID.uuidString.lowercased()), "tenant_id": .string(tenantID), "type": .string(type.rawValue),
            "priority": .int(priority), "created_at": .string(Agent.timestamp(createdAt)), "status": .string(TaskStatus.pending.rawValue),
            "metadata": .object(metadata), "payload": .object(payload),
        ]
        if let globalTaskID { o["global_task_id"] = .string(globalTaskID) }
        if maxAttempts != Self.defaultMaxAttempts { o["max_attempts"] = .int(maxAttempts) }
        return .object(o)
    }

    static func parseTimestamp(_ raw: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(raw)) ?? (try? Date.ISO8601FormatStyle().parse(raw))
    }
}
