import Domain
import Foundation
import Synchronization

/// One tenant's registry: its agent cache, its tier, and the write path. Writes commit in Postgres
/// first and then fill the cache; change notices from any replica supersede what they name, and a
/// fill that a notice overtook is refused (see `NoticeCoherentCache`).
actor TenantActor {
    /// A PATCH re-reads and retries when another write moved the agent on in between.
    static let patchAttempts = 5

    let tenantID: TenantID
    private let deps: TenantDependencies
    /// Behind a lock rather than the actor, so a cached read costs no hop onto the actor's executor.
    /// Writes, fills and notices still run on the actor, which keeps their order.
    private let agents: Mutex<NoticeCoherentCache<UUID, [UInt8]>>
    private var tenant: NoticeCoherentCache<Int, Tenant>

    init(tenantID: TenantID, deps: TenantDependencies, caching: Bool) {
        self.tenantID = tenantID
        self.deps = deps
        self.agents = Mutex(NoticeCoherentCache(capacity: deps.cacheCapacity, enabled: caching))
        self.tenant = NoticeCoherentCache(capacity: 1, enabled: caching)
    }

    // MARK: Reads

    /// The cached agent, read without entering the actor; `nil` sends the caller to `agent(_:)`.
    nonisolated func cached(_ id: UUID) -> CachedAgent? {
        guard let hit = agents.withLock({ $0.entry(id) }) else { return nil }
        deps.metrics.cacheHits.increment()
        return CachedAgent(id: id, version: hit.version, bytes: hit.value)
    }

    func agent(_ id: UUID) async throws -> CachedAgent {
        if let hit = cached(id) { return hit }
        deps.metrics.cacheMisses.increment()
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        guard let agent = try await deps.store.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        let entry = CachedAgent(agent)
        agents.withLock { _ = $0.fill(id, version: agent.version, entry.bytes, since: ticket) }
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
        return await validate(config, context)
    }

    // MARK: Writes

    /// Validates, then inserts in one call that also judges the quota under the tenant's lock. A
    /// full tenant hears so even when its body has issues: it need not fix a body it cannot store.
    func create(_ config: AgentConfig, by identity: Identity) async throws -> CachedAgent {
        let context = try await validationContext()
        let report = await validate(config, context)
        guard report.errors.isEmpty else {
            if try await deps.store.countAgents(tenant: tenantID) >= context.limits.maxAgents {
                throw ServiceError.quotaReached(tier: context.tenant.tier, limit: context.limits.maxAgents)
            }
            throw ServiceError.validationFailed(report.issues)
        }
        let now = Date.storedNow()
        let agent = Agent(id: .v7(now: now), tenantID: tenantID, version: 1, config: config, validation: report,
                          createdAt: now, updatedAt: now, createdBy: identity.subject, updatedBy: identity.subject)
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        try await deps.store.insert(agent, quota: deps.quota)
        let entry = CachedAgent(agent)
        agents.withLock { _ = $0.fill(agent.id, version: agent.version, entry.bytes, since: ticket) }
        return entry
    }

    /// Applies an RFC 7396 merge patch; a patch that changes nothing keeps the version. Validation
    /// runs with no lock held; the write then succeeds only if the agent is still the one it read.
    func patch(_ id: UUID, with patch: JSONValue, by identity: Identity) async throws -> CachedAgent {
        guard case .object = patch else { throw ServiceError.malformed("A merge patch must be a JSON object") }
        let context = try await validationContext()
        for _ in 0..<Self.patchAttempts {
            let ticket = agents.withLock { $0.ticket() }
            defer { agents.withLock { $0.settle(ticket) } }
            guard let current = try await deps.store.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
            let config = try AgentConfig(json: current.config.json.merging(patch: patch))
            guard config != current.config else {
                let entry = CachedAgent(current)
                agents.withLock { _ = $0.fill(id, version: current.version, entry.bytes, since: ticket) }
                return entry
            }
            if config.status == .active && current.config.status != .active {
                try identity.require(.admin)
            }
            let report = await validate(config, context)
            guard report.errors.isEmpty else { throw ServiceError.validationFailed(report.issues) }
            var next = current
            next.config = config
            next.validation = report
            next.version = current.version + 1
            next.updatedAt = Date.storedNow()
            next.updatedBy = identity.subject
            if try await deps.store.update(next) {
                let entry = CachedAgent(next)
                agents.withLock { _ = $0.fill(id, version: next.version, entry.bytes, since: ticket) }
                return entry
            }
        }
        // Only many writers of one agent at once get here; they are told to come back, as in an outage.
        throw ServiceError(.databaseUnavailable, "The agent kept changing while this update was applied; retry")
    }

    func delete(_ id: UUID) async throws {
        guard try await deps.store.delete(id, tenant: tenantID) != nil else { throw ServiceError.agentNotFound() }
        agents.withLock { $0.notice(id, version: Int.max) }
    }

    // MARK: Change notices

    func apply(_ change: ChangeNotification) {
        switch change.kind {
        case .tenant, .tools:
            tenant.notice(0, version: nil)
        case .agent:
            guard let id = change.agentID else { return }
            agents.withLock { $0.notice(id, version: change.deleted ? Int.max : change.version) }
        }
    }

    /// The listener went away or came back: either way, what was cached may have missed a notice.
    func setCaching(_ enabled: Bool) {
        agents.withLock { $0.reset(enabled: enabled) }
        tenant.reset(enabled: enabled)
    }

    var cachedCount: Int { agents.withLock { $0.count } }
    var isCaching: Bool { agents.withLock { $0.isEnabled } }

    // MARK: Helpers

    private func currentTenant() async throws -> Tenant {
        if let cached = tenant[0] { return cached }
        let ticket = tenant.ticket()
        defer { tenant.settle(ticket) }
        let loaded = try await deps.store.tenant(tenantID)
        tenant.fill(0, version: 0, loaded, since: ticket)
        return loaded
    }

    /// Every validator over `config`, counted and timed for `/metrics`.
    private func validate(_ config: AgentConfig, _ context: ValidationContext) async -> ValidationReport {
        let started = ContinuousClock.now
        let report = await deps.validators.validate(config, context: context)
        deps.metrics.validationDuration.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
        (report.errors.isEmpty ? deps.metrics.validDrafts : deps.metrics.invalidDrafts).increment()
        return report
    }

    private func validationContext() async throws -> ValidationContext {
        let tenant = try await currentTenant()
        return ValidationContext(tenant: tenant, limits: deps.policy[tenant.tier], catalog: try await deps.catalog.current(), rules: deps.policy.rules)
    }
}

extension Date {
    /// Now, to the millisecond: what Postgres stores and the API shows, so a response built from
    /// what was written matches a later read byte for byte.
    static func storedNow() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}
