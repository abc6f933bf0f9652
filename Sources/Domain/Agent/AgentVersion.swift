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
        version: Int,
        config: AgentConfig? = nil,
        validation: ValidationReport? = nil,
        createdAt: Date,
        createdBy: String,
        requestID: String?,
        changes: JSONValue
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
        case created, updated
        case rolledBack = "rolled_back"
        case statusChanged = "status_changed"
        case deleted, restored, validated
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
        action: Action,
        actor: String,
        roles: [String],
        at: Date,
        requestID: String?,
        version: Int?,
        changes: JSONValue = .null,
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

/// A named pointer to one version of an agent (`production`, `staging`, …).
public struct AgentAlias: Sendable, Hashable {
    public var name: String
    public var version: Int
    public var updatedAt: Date
    public var updatedBy: String

    public init(name: String, version: Int, updatedAt: Date, updatedBy: String) {
        self.name = name
        self.version = version
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
    }

    /// Lowercase letters, digits, `-` and `_`, starting with a letter, at most 63 characters.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), bytes.count <= 63 else { return false }
        return bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
    }

    public var json: JSONValue {
        .object([
            "name": .string(name), "version": .int(version), "updated_at": .string(Agent.timestamp(updatedAt)),
            "updated_by": .string(updatedBy),
        ])
    }
}
