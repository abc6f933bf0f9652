import Domain
import Foundation

/// One tenant's registry: its agent cache, its tier, and the write path. Writes commit in Postgres
/// first and then update the cache; changes announced by any replica evict what they supersede.
actor TenantActor {
    let tenantID: TenantID
    private let deps: TenantDependencies
    private var tenant: Tenant?
    private var cache: [UUID: CachedAgent] = [:]
    /// Bumped by every change notice, so a read that raced with a change is not cached.
    private var epoch = 0
    /// Off while the change listener is down: without notices the cache cannot be trusted.
    private var caching: Bool

    init(tenantID: TenantID, deps: TenantDependencies, caching: Bool) {
        self.tenantID = tenantID
        self.deps = deps
        self.caching = caching
    }

    // MARK: Reads

    func agent(_ id: UUID) async throws -> CachedAgent {
        if let hit = cache[id] { return hit }
        let seen = epoch
        guard let agent = try await deps.store.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        let entry = CachedAgent(agent)
        if seen == epoch { remember(entry) }
        return entry
    }

    func agents(_ query: AgentQuery) async throws -> AgentPage {
        try await deps.store.agents(tenant: tenantID, query: query)
    }

    func info() async throws -> (tenant: Tenant, limits: TierLimits, agents: Int) {
        let tenant = try await currentTenant()
        return (tenant, deps.policy[tenant.tier], try await deps.store.countAgents(tenant: tenantID))
    }

    /// A create body checked against the tier, catalog and quota, writing nothing.
    func dryRun(_ config: AgentConfig) async throws -> ValidationReport {
        var context = try await validationContext()
        context.otherAgents = try await deps.store.countAgents(tenant: tenantID)
        return await deps.validators.validate(config, context: context)
    }

    // MARK: Writes

    /// The quota is judged first (a full tenant need not fix its body), and again under lock on insert.
    func create(_ config: AgentConfig, by identity: Identity) async throws -> CachedAgent {
        let context = try await validationContext()
        if try await deps.store.countAgents(tenant: tenantID) >= context.limits.maxAgents {
            throw ServiceError.quotaReached(tier: context.tenant.tier, limit: context.limits.maxAgents)
        }
        let report = await deps.validators.validate(config, context: context)
        guard report.errors.isEmpty else { throw ServiceError.validationFailed(report.issues) }
        let now = Date()
        let agent = Agent(id: .v7(now: now), tenantID: tenantID, version: 1, config: config, validation: report,
                          createdAt: now, updatedAt: now, createdBy: identity.subject, updatedBy: identity.subject)
        let policy = deps.policy
        let stored = try await deps.store.insert(agent) { tier in policy[tier].maxAgents }
        let entry = CachedAgent(stored)
        remember(entry)
        return entry
    }

    /// Applies an RFC 7396 merge patch; a patch that changes nothing keeps the version.
    func patch(_ id: UUID, with patch: JSONValue, by identity: Identity) async throws -> CachedAgent {
        guard case .object = patch else { throw ServiceError.malformed("A merge patch must be a JSON object") }
        let context = try await validationContext()
        let validators = deps.validators
        let write = try await deps.store.update(id, tenant: tenantID) { current in
            let config = try AgentConfig(json: current.config.json.merging(patch: patch))
            guard config != current.config else { return nil }
            if config.status == .active && current.config.status != .active {
                try identity.require(.admin)
            }
            let report = await validators.validate(config, context: context)
            guard report.errors.isEmpty else { throw ServiceError.validationFailed(report.issues) }
            var next = current
            next.config = config
            next.validation = report
            next.updatedAt = Date()
            next.updatedBy = identity.subject
            return next
        }
        if case .unchanged(let agent) = write, let hit = cache[id], hit.agent.version == agent.version { return hit }
        let entry = CachedAgent(write.agent)
        remember(entry)
        return entry
    }

    func delete(_ id: UUID) async throws {
        epoch += 1
        cache[id] = nil
        guard try await deps.store.delete(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        cache[id] = nil
    }

    // MARK: Change notices

    func apply(_ change: ChangeNotification) {
        epoch += 1
        switch change.kind {
        case .tenant, .tools:
            tenant = nil
        case .agent:
            guard let id = change.agentID, let cached = cache[id] else { return }
            if change.deleted || cached.agent.version < (change.version ?? Int.max) {
                cache[id] = nil
            }
        }
    }

    /// The listener went away or came back: either way, what was cached may have missed a notice.
    func setCaching(_ enabled: Bool) {
        epoch += 1
        cache.removeAll(keepingCapacity: false)
        tenant = nil
        caching = enabled
    }

    var cachedCount: Int { cache.count }

    // MARK: Helpers

    private func remember(_ entry: CachedAgent) {
        guard caching else { return }
        if let existing = cache[entry.agent.id], existing.agent.version >= entry.agent.version { return }
        if cache.count >= deps.cacheCapacity, cache[entry.agent.id] == nil {
            cache.remove(at: cache.startIndex)
        }
        cache[entry.agent.id] = entry
    }

    private func currentTenant() async throws -> Tenant {
        if let tenant { return tenant }
        let seen = epoch
        let loaded = try await deps.store.tenant(tenantID)
        if seen == epoch && caching { tenant = loaded }
        return loaded
    }

    private func validationContext() async throws -> ValidationContext {
        let tenant = try await currentTenant()
        return ValidationContext(tenant: tenant, limits: deps.policy[tenant.tier], catalog: try await deps.catalog.current(), rules: deps.policy.rules)
    }
}
