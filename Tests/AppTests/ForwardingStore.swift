import Domain
import Foundation
import Infra

/// A test wrapper around the real store: everything forwards to `base` unless the wrapper
/// implements it itself (to count, or to pause a call at a gate).
protocol ForwardingStore: AgentStore {
    var base: PostgresAgentStore { get }
}

extension ForwardingStore {
    func tenant(_ id: TenantID) async throws -> Tenant { try await base.tenant(id) }
    func setTier(_ tier: Tier, for tenant: TenantID) async throws -> Tenant { try await base.setTier(tier, for: tenant) }
    func agent(_ id: UUID, tenant: TenantID) async throws -> Agent? { try await base.agent(id, tenant: tenant) }
    func agents(tenant: TenantID, query: AgentQuery) async throws -> AgentPage { try await base.agents(tenant: tenant, query: query) }
    func countAgents(tenant: TenantID) async throws -> Int { try await base.countAgents(tenant: tenant) }
    func insert(_ agent: Agent, quota: AgentQuota, audit: Audit) async throws { try await base.insert(agent, quota: quota, audit: audit) }
    func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool {
        try await base.update(agent, from: revision, action: action, changes: changes, audit: audit)
    }
    func setStatus(_ agent: Agent, from revision: Int, previous: AgentStatus, reason: String?, audit: Audit) async throws -> Bool {
        try await base.setStatus(agent, from: revision, previous: previous, reason: reason, audit: audit)
    }
    func delete(_ id: UUID, tenant: TenantID, ifVersion version: Int?, audit: Audit) async throws -> DeleteOutcome {
        try await base.delete(id, tenant: tenant, ifVersion: version, audit: audit)
    }
    func restore(_ id: UUID, tenant: TenantID, retention: Duration, quota: AgentQuota, audit: Audit) async throws -> Agent? {
        try await base.restore(id, tenant: tenant, retention: retention, quota: quota, audit: audit)
    }
    func purgeDeleted(retention: Duration) async throws -> Int { try await base.purgeDeleted(retention: retention) }
    func setValidation(_ agent: Agent, from revision: Int, audit: Audit) async throws -> Bool {
        try await base.setValidation(agent, from: revision, audit: audit)
    }
    func announce(_ agents: [Agent], tenant: TenantID) async throws { try await base.announce(agents, tenant: tenant) }
    func versions(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<AgentVersion>? {
        try await base.versions(of: id, tenant: tenant, limit: limit, before: before)
    }
    func version(_ version: Int, of id: UUID, tenant: TenantID) async throws -> AgentVersion? {
        try await base.version(version, of: id, tenant: tenant)
    }
    func history(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<HistoryEntry> {
        try await base.history(of: id, tenant: tenant, limit: limit, before: before)
    }
    func toolCatalog() async throws -> [ToolDefinition] { try await base.toolCatalog() }
    func replaceToolCatalog(_ tools: [ToolDefinition]) async throws { try await base.replaceToolCatalog(tools) }
}

extension Audit {
    static let test = Audit(actor: "u", roles: ["admin"], requestID: "test")
}

extension ForwardingStore {
    func agents(_ ids: [UUID], tenant: TenantID) async throws -> [Agent] { try await base.agents(ids, tenant: tenant) }
    func aliases(of id: UUID, tenant: TenantID) async throws -> [AgentAlias]? { try await base.aliases(of: id, tenant: tenant) }
    func setAlias(_ alias: String, of id: UUID, to version: Int, tenant: TenantID, audit: Audit) async throws -> AgentAlias? {
        try await base.setAlias(alias, of: id, to: version, tenant: tenant, audit: audit)
    }
    func removeAlias(_ alias: String, of id: UUID, tenant: TenantID, audit: Audit) async throws -> Bool {
        try await base.removeAlias(alias, of: id, tenant: tenant, audit: audit)
    }
}

extension ForwardingStore {
    func apply(creates: [Agent], updates: [(agent: Agent, from: Int, changes: JSONValue)], deletes: [UUID], tenant: TenantID,
               quota: AgentQuota, audit: Audit) async throws {
        try await base.apply(creates: creates, updates: updates, deletes: deletes, tenant: tenant, quota: quota, audit: audit)
    }
}

extension ForwardingStore {
    func updateLocked(
        _ id: UUID, tenant: TenantID, action: HistoryEntry.Action, audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)?
    ) async throws -> (current: Agent, next: Agent?)? {
        try await base.updateLocked(id, tenant: tenant, action: action, audit: audit, change)
    }
}
