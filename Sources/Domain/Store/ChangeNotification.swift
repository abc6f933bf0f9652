public import Foundation

/// What replicas tell each other: tier and catalog changes through `NOTIFY agent_management_changes`,
/// agent changes with each committed event's `NOTIFY ams_outbox`.
public struct ChangeNotification: Sendable, Hashable {
    public enum Kind: String, Sendable { case agent, tenant, tools }

    public var kind: Kind
    public var tenantID: TenantID?
    public var agentID: UUID?
    /// The agent row's revision after the change (see `Agent.revision`).
    public var revision: Int?
    public var deleted: Bool

    public init(kind: Kind, tenantID: TenantID? = nil, agentID: UUID? = nil, revision: Int? = nil, deleted: Bool = false) {
        self.kind = kind
        self.tenantID = tenantID
        self.agentID = agentID
        self.revision = revision
        self.deleted = deleted
    }

    public var payload: String {
        var o: [String: JSONValue] = ["kind": .string(kind.rawValue)]
        if let tenantID { o["tenant_id"] = .string(tenantID) }
        if let agentID { o["agent_id"] = .string(agentID.uuidString.lowercased()) }
        if let revision { o["revision"] = .int(revision) }
        if deleted { o["deleted"] = .bool(true) }
        return String(decoding: JSONValue.object(o).encoded, as: UTF8.self)
    }

    public init?(payload: String) {
        guard let json = JSONValue.parse(Array(payload.utf8)), let kind = json["kind"]?.stringValue.flatMap(Kind.init) else { return nil }
        self.init(
            kind: kind,
            tenantID: json["tenant_id"]?.stringValue,
            agentID: json["agent_id"]?.stringValue.flatMap(UUID.init(uuidString:)),
            revision: json["revision"]?.numberValue.map { Int($0) },
            deleted: json["deleted"] == .bool(true)
        )
    }
}
