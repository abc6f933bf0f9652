public import Foundation

/// One immutable snapshot of an agent's configuration, as stored when the version was made.
public struct AgentVersion: Sendable, Hashable {
    public var version: Int
    /// The full configuration (with the status it had then); `nil` in lists, which leave it out.
    public var config: AgentConfig?
    public var validation: ValidationReport?
    public var createdAt: Date
    public var createdBy: String
    public var requestID: String?
    /// RFC 6902 operations from the previous version (from `{}` for version 1).
    public var changes: JSONValue

    public init(
        version: Int, config: AgentConfig? = nil, validation: ValidationReport? = nil, createdAt: Date, createdBy: String,
        requestID: String?, changes: JSONValue
    ) {
        self.version = version
        self.config = config
        self.validation = validation
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.requestID = requestID
        self.changes = changes
    }

    public var listJSON: JSONValue {
        .object([
            "version": .int(version), "created_at": .string(Agent.timestamp(createdAt)), "created_by": .string(createdBy),
            "changes": changes,
        ])
    }
}

/// One entry of an agent's audit trail. Written in the transaction of the change it describes.
public struct HistoryEntry: Sendable, Hashable {
    public enum Action: String, Sendable, CaseIterable {
        case created, updated, rolledBack = "rolled_back", statusChanged = "status_changed", deleted, restored, validated
        case aliasMoved = "alias_moved"
    }

    public var action: Action
    public var actor: String
    public var roles: [String]
    public var at: Date
    public var requestID: String?
    public var version: Int?
    public var changes: JSONValue
    /// What the action needs besides a version: `from`, `to` and `reason` of a status change.
    public var details: JSONValue

    public init(
        action: Action, actor: String, roles: [String], at: Date, requestID: String?, version: Int?, changes: JSONValue = .null,
        details: JSONValue = .null
    ) {
        self.action = action
        self.actor = actor
        self.roles = roles
        self.at = at
        self.requestID = requestID
        self.version = version
        self.changes = changes
        self.details = details
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "action": .string(action.rawValue), "actor": .string(actor), "roles": .array(roles.map(JSONValue.string)),
            "at": .string(Agent.timestamp(at)), "request_id": requestID.map(JSONValue.string) ?? .null,
            "version": version.map(JSONValue.int) ?? .null, "changes": changes,
        ]
        if details != .null { o["details"] = details }
        return .object(o)
    }
}

/// A page of a keyset-ordered list, newest first; `next` is the position to continue after.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var next: Int64?

    public init(items: [Item], next: Int64?) {
        self.items = items
        self.next = next
    }
}
