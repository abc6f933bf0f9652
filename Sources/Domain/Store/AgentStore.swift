public import Foundation

/// Persistence of agents, with the quota of live agents per tier judged where they are counted.
/// Every tenant-scoped call sees only that tenant's rows; implementations enforce it in the database, not only in queries.
public protocol AgentStore: Sendable {
    func agent(_ id: UUID, tenant: TenantID) async throws -> Agent?
    func agents(tenant: TenantID, query: AgentQuery) async throws -> AgentPage
    /// The live agents among `ids`, in one read.
    func agents(_ ids: [UUID], tenant: TenantID) async throws -> [Agent]
    func countAgents(tenant: TenantID) async throws -> Int
    /// Inserts `agent` (version 1, its snapshot and a `created` history entry) unless the quota of
    /// the tenant's tier, judged under a lock on the tenant, is full (`quotaReached`) or the name is
    /// taken (`nameConflict`).
    func insert(_ agent: Agent, quota: AgentQuota, audit: Audit) async throws
    /// Inserts several agents, of any tenants, in one transaction (group commit), each judged as
    /// `insert` judges it: a create refused (quota, name) writes nothing of its own and is its
    /// outcome alone, the others stand. One outcome per create, in their order; `WriteAlone` for a
    /// create the batch could not judge (its tenant locked a while, another unique index broken).
    func insert(_ creates: [(agent: Agent, audit: Audit)], quota: AgentQuota) async throws -> [Result<Void, any Error>]
    /// Stores `agent` as its next version, with the snapshot and a history entry of `action`, if the
    /// stored row is still at `revision`; `false` when it moved on or is gone.
    func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool
    /// Several updates, of any tenants' agents, in one transaction (group commit), each judged as
    /// `update` judges it, its outcome its own; `WriteAlone` for one the batch could not judge (its
    /// row locked a while, a name taken).
    func update(_ updates: [AgentUpdate]) async throws -> [Result<Bool, any Error>]
    /// The fallback of a writer that keeps losing the optimistic race: reads the live agent under a
    /// row lock and stores what `change` makes of it (the next agent and its changes; `nil` writes
    /// nothing) in the same transaction, so it cannot lose again. `nil` when the agent is not live.
    func updateLocked(
        _ id: UUID,
        tenant: TenantID,
        action: HistoryEntry.Action,
        audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)?
    ) async throws -> (current: Agent, next: Agent?)?
    /// Moves `agent` to the status in its configuration without a new version, if the stored row is
    /// still at `revision`; `false` when it moved on or is gone.
    func setStatus(_ agent: Agent, from revision: Int, previous: AgentStatus, reason: String?, audit: Audit) async throws -> Bool
    /// Replaces a live agent's stored validation without a new version (its configuration is
    /// unchanged), recorded as `validated`, if the row is still at `revision`; `false` otherwise.
    func setValidation(_ agent: Agent, from revision: Int, audit: Audit) async throws -> Bool
    /// Soft-deletes a live agent, if `version` (when given) is still its version.
    func delete(_ id: UUID, tenant: TenantID, ifVersion version: Int?, audit: Audit) async throws -> DeleteOutcome
    /// Brings back an agent deleted less than `retention` ago, under the same quota and name rules as
    /// a create; `nil` when there is no such agent.
    func restore(_ id: UUID, tenant: TenantID, retention: Duration, quota: AgentQuota, audit: Audit) async throws -> Agent?
    /// Hard-deletes agents deleted more than `retention` ago, all tenants at once; their history stays.
    /// Returns how many went; 0 also when another replica is purging right now.
    func purgeDeleted(retention: Duration) async throws -> Int
    /// A whole declarative apply in one transaction: deletes, then updates (each from the revision
    /// read), then creates under the quota. Any refusal leaves nothing written.
    func apply(
        creates: [Agent],
        updates: [(agent: Agent, from: Int, changes: JSONValue)],
        deletes: [UUID],
        tenant: TenantID,
        quota: AgentQuota,
        audit: Audit
    ) async throws
    /// Records an `agent_updated` event with no changes for each agent, so receivers re-read them.
    func announce(_ agents: [Agent], tenant: TenantID) async throws
}
