public import Foundation

/// Persistence of tenants, agents and the tool catalog. Every tenant-scoped call sees only that
/// tenant's rows; implementations enforce it in the database, not only in queries.
public protocol AgentStore: Sendable {
    /// The tenant as stored, or with the default tier when it was never written; reads write nothing.
    func tenant(_ id: TenantID) async throws -> Tenant
    func setTier(_ tier: Tier, for tenant: TenantID) async throws -> Tenant
    func agent(_ id: UUID, tenant: TenantID) async throws -> Agent?
    func agents(tenant: TenantID, query: AgentQuery) async throws -> AgentPage
    func countAgents(tenant: TenantID) async throws -> Int
    /// Inserts `agent` (version 1, its snapshot and a `created` history entry) unless the quota of
    /// the tenant's tier, judged under a lock on the tenant, is full (`quotaReached`) or the name is
    /// taken (`nameConflict`).
    func insert(_ agent: Agent, quota: AgentQuota, audit: Audit) async throws
    /// Stores `agent` as its next version, with the snapshot and a history entry of `action`, if the
    /// stored row is still at `revision`; `false` when it moved on or is gone.
    func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool
    /// The fallback of a writer that keeps losing the optimistic race: reads the live agent under a
    /// row lock and stores what `change` makes of it (the next agent and its changes; `nil` writes
    /// nothing) in the same transaction, so it cannot lose again. `nil` when the agent is not live.
    func updateLocked(
        _ id: UUID, tenant: TenantID, action: HistoryEntry.Action, audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)?
    ) async throws -> (current: Agent, next: Agent?)?
    /// Moves `agent` to the status in its configuration without a new version, if the stored row is
    /// still at `revision`; `false` when it moved on or is gone.
    func setStatus(_ agent: Agent, from revision: Int, previous: AgentStatus, reason: String?, audit: Audit) async throws -> Bool
    /// Soft-deletes a live agent, if `version` (when given) is still its version.
    func delete(_ id: UUID, tenant: TenantID, ifVersion version: Int?, audit: Audit) async throws -> DeleteOutcome
    /// Brings back an agent deleted less than `retention` ago, under the same quota and name rules as
    /// a create; `nil` when there is no such agent.
    func restore(_ id: UUID, tenant: TenantID, retention: Duration, quota: AgentQuota, audit: Audit) async throws -> Agent?
    /// Hard-deletes agents deleted more than `retention` ago, all tenants at once; their history stays.
    /// Returns how many went; 0 also when another replica is purging right now.
    func purgeDeleted(retention: Duration) async throws -> Int
    /// The versions of a live agent, newest first; `nil` when the agent is not live.
    func versions(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<AgentVersion>?
    /// One version of a live agent, configuration included; `nil` when the agent is not live or has no such version.
    func version(_ version: Int, of id: UUID, tenant: TenantID) async throws -> AgentVersion?
    /// A whole declarative apply in one transaction: deletes, then updates (each from the revision
    /// read), then creates under the quota. Any refusal leaves nothing written.
    func apply(creates: [Agent], updates: [(agent: Agent, from: Int, changes: JSONValue)], deletes: [UUID], tenant: TenantID,
               quota: AgentQuota, audit: Audit) async throws
    /// The live agents among `ids`, in one read.
    func agents(_ ids: [UUID], tenant: TenantID) async throws -> [Agent]
    /// The aliases of a live agent, by name; `nil` when the agent is not live.
    func aliases(of id: UUID, tenant: TenantID) async throws -> [AgentAlias]?
    /// Points `alias` at `version` of a live agent, recording the move in history. `nil` when the
    /// agent is not live; `.versionNotFound` when it has no such version.
    func setAlias(_ alias: String, of id: UUID, to version: Int, tenant: TenantID, audit: Audit) async throws -> AgentAlias?
    /// Removes `alias`; `false` when the agent is not live or has no such alias.
    func removeAlias(_ alias: String, of id: UUID, tenant: TenantID, audit: Audit) async throws -> Bool
    /// The audit trail of an agent, live or deleted, newest first.
    func history(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<HistoryEntry>
    /// Replaces a live agent's stored validation without a new version (its configuration is
    /// unchanged), recorded as `validated`, if the row is still at `revision`; `false` otherwise.
    func setValidation(_ agent: Agent, from revision: Int, audit: Audit) async throws -> Bool
    /// Records an `agent_updated` event with no changes for each agent, so receivers re-read them.
    func announce(_ agents: [Agent], tenant: TenantID) async throws
    func toolCatalog() async throws -> [ToolDefinition]
    func replaceToolCatalog(_ tools: [ToolDefinition]) async throws
}

/// Live agents allowed per tier, handed to the store so the quota is judged where the count is locked.
public struct AgentQuota: Sendable, Hashable {
    public var maxAgents: [Tier: Int]

    public init(_ maxAgents: [Tier: Int]) { self.maxAgents = maxAgents }

    public subscript(tier: Tier) -> Int { maxAgents[tier] ?? 0 }
}

public struct AgentQuery: Sendable, Hashable {
    public var limit: Int
    /// Keyset position: rows strictly older than this one.
    public var after: Int64?
    public var status: AgentStatus?
    public var type: AgentType?
    public var tag: String?
    public var text: String?

    public init(limit: Int = 50, after: Int64? = nil, status: AgentStatus? = nil, type: AgentType? = nil, tag: String? = nil, text: String? = nil) {
        self.limit = limit
        self.after = after
        self.status = status
        self.type = type
        self.tag = tag
        self.text = text
    }
}

public struct AgentPage: Sendable {
    public var items: [Agent]
    public var next: Int64?

    public init(items: [Agent], next: Int64?) {
        self.items = items
        self.next = next
    }
}

public enum DeleteOutcome: Sendable, Hashable {
    case deleted(version: Int)
    case missing
    /// `If-Match` named another version; the agent is untouched.
    case stale(current: Int)
}

/// What replicas tell each other through `NOTIFY agent_management_changes`.
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
            kind: kind, tenantID: json["tenant_id"]?.stringValue, agentID: json["agent_id"]?.stringValue.flatMap(UUID.init(uuidString:)),
            revision: json["revision"]?.numberValue.map { Int($0) }, deleted: json["deleted"] == .bool(true)
        )
    }
}
