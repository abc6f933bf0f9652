/// What a task asks for; the names are the wire format other services produce.
public enum TaskType: String, Sendable, CaseIterable {
    case agentCreate = "agent_create"
    case agentUpdate = "agent_update"
    case agentDelete = "agent_delete"
    case agentValidate = "agent_validate"
    case agentNotify = "agent_notify"
    case templateCreate = "template_create"
    case bulkUpdate = "bulk_update"
    case revalidateTenant = "revalidate_tenant"
    case sync

    /// The queue a producer of this service puts it on (others may use any of the three).
    public var queue: TaskQueue {
        switch self {
        case .agentValidate: .validation
        case .templateCreate: .templates
        default: .tasks
        }
    }
}

/// A task's state in Postgres: `pending → processing → completed | failed`.
public enum TaskStatus: String, Sendable, CaseIterable {
    case pending, processing, completed, failed

    public var isFinal: Bool { self == .completed || self == .failed }
}

/// The three work queues of a tenant, most urgent first.
public enum TaskQueue: String, Sendable, CaseIterable, Comparable {
    case validation, templates, tasks

    public static let service = "agent-management"
    /// The consumer group every replica reads through.
    public static let group = "agent-management"

    /// `agent-management.{queue}.{tenant_id}`.
    public func key(_ tenant: TenantID) -> String { "\(Self.service).\(rawValue).\(tenant)" }

    /// Where entries that cannot or could not be done go, with the reason.
    public static func deadLetterKey(_ tenant: TenantID) -> String { "\(service).dead.\(tenant)" }

    /// The queue and tenant a stream key names; `nil` for any other key (the dead-letter one included).
    public static func parse(_ key: String) -> (queue: TaskQueue, tenant: TenantID)? {
        let prefix = service + "."
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let queue = TaskQueue(rawValue: String(rest[..<dot])) else { return nil }
        let tenant = String(rest[rest.index(after: dot)...])
        guard Tenant.isValidID(tenant) else { return nil }
        return (queue, tenant)
    }

    private var urgency: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: TaskQueue, b: TaskQueue) -> Bool { a.urgency < b.urgency }
}
