public import Foundation

/// What an agent was: its stored versions, while it is live, and its audit trail, which outlives it.
public protocol VersionStore: Sendable {
    /// The versions of a live agent, newest first; `nil` when the agent is not live.
    func versions(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<AgentVersion>?
    /// One version of a live agent, configuration included; `nil` when the agent is not live or has no such version.
    func version(_ version: Int, of id: UUID, tenant: TenantID) async throws -> AgentVersion?
    /// The audit trail of an agent, live or deleted, newest first.
    func history(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<HistoryEntry>
}
