public import Foundation

/// Named pointers at versions of a live agent; each move is recorded in the agent's history.
public protocol AliasStore: Sendable {
    /// The aliases of a live agent, by name; `nil` when the agent is not live.
    func aliases(of id: UUID, tenant: TenantID) async throws -> [AgentAlias]?
    /// Points `alias` at `version` of a live agent, recording the move in history. `nil` when the
    /// agent is not live; `.versionNotFound` when it has no such version.
    func setAlias(_ alias: String, of id: UUID, to version: Int, tenant: TenantID, audit: Audit) async throws -> AgentAlias?
    /// Removes `alias`; `false` when the agent is not live or has no such alias.
    func removeAlias(_ alias: String, of id: UUID, tenant: TenantID, audit: Audit) async throws -> Bool
}
