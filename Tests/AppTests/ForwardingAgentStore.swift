import Domain
import Foundation
import Infra

/// A test wrapper around the real agent store: everything forwards to `base` unless the wrapper
/// implements it itself (to count, to fail, or to pause a call at a gate).
protocol ForwardingAgentStore: AgentStore {
    var base: PostgresAgentStore { get }
}

extension ForwardingAgentStore {
    func agent(_ id: UUID, tenant: TenantID) async throws -> Agent? { try await base.agent(id, tenant: tenant) }
    func agents(tenant: TenantID, query: AgentQuery) async throws -> AgentPage { try await base.agents(tenant: tenant, query: query) }
    func agents(_ ids: [UUID], tenant: TenantID) async throws -> [Agent] { try await base.agents(ids, tenant: tenant) }
    func countAgents(tenant: TenantID) async throws -> Int { try await base.countAgents(tenant: tenant) }
    func insert(_ agent: Agent, quota: AgentQuota, audit: Audit) async throws { try await base.insert(agent, quota: quota, audit: audit) }
    func insert(_ creates: [(agent: Agent, audit: Audit)], quota: AgentQuota) async throws -> [Result<Void, any Error>] {
        try await base.insert(creates, quota: quota)
    }
    func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool {
        try await base.update(agent, from: revision, action: action, changes: changes, audit: audit)
    }
    /// One at a time through `update`, so that a wrapper implementing it sees every update.
    func update(_ updates: [AgentUpdate]) async throws -> [Result<Bool, any Error>] {
        var outcomes: [Result<Bool, any Error>] = []
        for u in updates {
            do {
                outcomes.append(.success(try await update(u.agent, from: u.revision, action: u.action, changes: u.changes, audit: u.audit)))
            } catch {
                outcomes.append(.failure(error))
            }
        }
        return outcomes
    }
    func updateLocked(
        _ id: UUID,
        tenant: TenantID,
        action: HistoryEntry.Action,
        audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)?
    ) async throws -> (current: Agent, next: Agent?)? {
        try await base.updateLocked(id, tenant: tenant, action: action, audit: audit, change)
    }
    func setStatus(_ agent: Agent, from revision: Int, previous: AgentStatus, reason: String?, audit: Audit) async throws -> Bool {
        try await base.setStatus(agent, from: revision, previous: previous, reason: reason, audit: audit)
    }
    func setValidation(_ agent: Agent, from revision: Int, audit: Audit) async throws -> Bool {
        try await base.setValidation(agent, from: revision, audit: audit)
    }
    func delete(_ id: UUID, tenant: TenantID, ifVersion version: Int?, audit: Audit) async throws -> DeleteOutcome {
        try await base.delete(id, tenant: tenant, ifVersion: version, audit: audit)
    }
    func restore(_ id: UUID, tenant: TenantID, retention: Duration, quota: AgentQuota, audit: Audit) async throws -> Agent? {
        try await base.restore(id, tenant: tenant, retention: retention, quota: quota, audit: audit)
    }
    func purgeDeleted(retention: Duration) async throws -> Int { try await base.purgeDeleted(retention: retention) }
    func apply(
        creates: [Agent],
        updates: [(agent: Agent, from: Int, changes: JSONValue)],
        deletes: [UUID],
        tenant: TenantID,
        quota: AgentQuota,
        audit: Audit
    ) async throws {
        try await base.apply(creates: creates, updates: updates, deletes: deletes, tenant: tenant, quota: quota, audit: audit)
    }
    func announce(_ agents: [Agent], tenant: TenantID) async throws { try await base.announce(agents, tenant: tenant) }
}
