import Domain
import Foundation
import Synchronization

/// One tenant's registry: its agent cache, its tier, and the write path. Writes commit in Postgres
/// first and then fill the cache; change notices from any replica supersede what they name, and a
/// fill that a notice overtook is refused (see `NoticeCoherentCache`). Writes to one agent take
/// turns here, so concurrent requests to this replica queue instead of racing; writes from other
/// replicas are caught by the revision check in the store, and retried.
actor TenantActor {
    /// Tries of a write whose agent another replica moved on in between (a status change; a
    /// configuration change falls back to a locked write after `optimisticAttempts`).
    static let writeAttempts = 10
    static let optimisticAttempts = 3

    let tenantID: TenantID
    let deps: TenantDependencies
    /// Behind a lock rather than the actor, so a cached read costs no hop onto the actor's executor.
    /// Writes, fills and notices still run on the actor, which keeps their order.
    private let agents: Mutex<NoticeCoherentCache<UUID, CachedBody>>
    /// Execution configurations for platform services, filled only by their reads (so agents that
    /// only UIs read cost no memory here); every change to an agent drops its entry.
    private let configs: Mutex<NoticeCoherentCache<UUID, CachedConfig>>
    private var tenant: NoticeCoherentCache<Int, Tenant>
    /// Agents with a write in progress, and the writes waiting for their turn.
    private var writing: [UUID: [CheckedContinuation<Void, Never>]] = [:]

    init(tenantID: TenantID, deps: TenantDependencies, caching: Bool) {
        self.tenantID = tenantID
        self.deps = deps
        self.agents = Mutex(NoticeCoherentCache(capacity: deps.cacheCapacity, enabled: caching))
        self.configs = Mutex(NoticeCoherentCache(capacity: deps.cacheCapacity, enabled: caching))
        self.tenant = NoticeCoherentCache(capacity: 1, enabled: caching)
    }

    // MARK: Reads

    /// The cached agent, read without entering the actor; `nil` sends the caller to `agent(_:)`.
    nonisolated func cached(_ id: UUID) -> CachedAgent? {
        guard let hit = cachedEntry(id) else { return nil }
        deps.metrics.cacheHits.increment()
        return CachedAgent(id: id, revision: hit.revision, hit.body)
    }

    /// The cached entry, not counted as a hit: the task runner's reads are not the API's.
    nonisolated func cachedEntry(_ id: UUID) -> (revision: Int, body: CachedBody)? {
        agents.withLock { $0.entry(id) }.map { ($0.version, $0.value) }
    }

    func agent(_ id: UUID) async throws -> CachedAgent {
        if let hit = cached(id) { return hit }
        deps.metrics.cacheMisses.increment()
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        guard let agent = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        return fill(agent, since: ticket)
    }

    /// The execution state of an agent, read without entering the actor when cached.
    nonisolated func cachedConfig(_ id: UUID) -> CachedConfig? {
        guard let hit = configs.withLock({ $0.entry(id) }) else { return nil }
        deps.metrics.cacheHits.increment()
        return hit.value
    }

    func config(_ id: UUID) async throws -> CachedConfig {
        if let hit = cachedConfig(id) { return hit }
        deps.metrics.cacheMisses.increment()
        let ticket = configs.withLock { $0.ticket() }
        defer { configs.withLock { $0.settle(ticket) } }
        guard let agent = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        let entry = CachedConfig(agent)
        configs.withLock { _ = $0.fill(id, version: agent.revision, entry, since: ticket) }
        return entry
    }

    /// The execution configuration at the version `alias` names (read from Postgres: aliases are
    /// for promotion and rollback, not the hot path). The agent itself must be active.
    func config(_ id: UUID, alias: String) async throws -> (version: Int, bytes: [UInt8]) {
        guard let current = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        try Self.requireActive(current.config.status)
        guard let aliases = try await deps.aliases.aliases(of: id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        guard let target = aliases.first(where: { $0.name == alias }) else { throw ServiceError.aliasNotFound(alias) }
        let snapshot = try await snapshot(target.version, of: id)
        return (target.version, current.executionJSON(version: target.version, config: snapshot.config))
    }

    static func requireActive(_ status: AgentStatus) throws {
        guard status == .active else {
            throw ServiceError(.agentNotActive, "The agent is not active", details: ["status": .string(status.rawValue)])
        }
    }

    /// Agents by id for platform services: cached ones from the cache, the rest in one read.
    func agents(_ ids: [UUID]) async throws -> [UUID: CachedAgent] {
        var found: [UUID: CachedAgent] = [:]
        var misses: [UUID] = []
        for id in ids {
            if let hit = cached(id) { found[id] = hit } else { misses.append(id) }
        }
        guard !misses.isEmpty else { return found }
        deps.metrics.cacheMisses.increment(by: misses.count)
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        for agent in try await deps.agents.agents(misses, tenant: tenantID) {
            found[agent.id] = fill(agent, since: ticket)
        }
        return found
    }

    func aliases(of id: UUID) async throws -> [AgentAlias] {
        guard let aliases = try await deps.aliases.aliases(of: id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        return aliases
    }

    func setAlias(_ alias: String, of id: UUID, to version: Int, audit: Audit) async throws -> AgentAlias {
        guard let moved = try await deps.aliases.setAlias(alias, of: id, to: version, tenant: tenantID, audit: audit) else {
            throw ServiceError.agentNotFound()
        }
        return moved
    }

    func removeAlias(_ alias: String, of id: UUID, audit: Audit) async throws {
        guard try await deps.aliases.removeAlias(alias, of: id, tenant: tenantID, audit: audit) else {
            if try await deps.agents.agent(id, tenant: tenantID) == nil { throw ServiceError.agentNotFound() }
            throw ServiceError.aliasNotFound(alias)
        }
    }

    func agents(_ query: AgentQuery) async throws -> AgentPage {
        try await deps.agents.agents(tenant: tenantID, query: query)
    }

    func info() async throws -> (tenant: Tenant, limits: TierLimits, agents: Int) {
        let tenant = try await currentTenant()
        return (tenant, deps.policy[tenant.tier], try await deps.agents.countAgents(tenant: tenantID))
    }

    /// The tenant and what its tier allows.
    func tierLimits() async throws -> (tenant: Tenant, limits: TierLimits) {
        let tenant = try await currentTenant()
        return (tenant, deps.policy[tenant.tier])
    }

    /// A create body checked against the tier, catalog and quota, writing nothing.
    func dryRun(_ config: AgentConfig) async throws -> ValidationReport {
        var context = try await validationContext()
        context.otherAgents = try await deps.agents.countAgents(tenant: tenantID)
        return await validate(config, context)
    }

    func versions(of id: UUID, limit: Int, before: Int64?) async throws -> Page<AgentVersion> {
        guard let page = try await deps.versions.versions(of: id, tenant: tenantID, limit: limit, before: before) else {
            throw ServiceError.agentNotFound()
        }
        return page
    }

    /// The agent as it was at `number`, and the changes that made that version.
    func version(_ number: Int, of id: UUID) async throws -> (agent: Agent, changes: JSONValue) {
        guard let current = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        let snapshot = try await snapshot(number, of: id)
        var agent = current
        agent.version = number
        agent.config = snapshot.config ?? current.config
        agent.validation = snapshot.validation ?? current.validation
        agent.updatedAt = snapshot.createdAt
        agent.updatedBy = snapshot.createdBy
        return (agent, snapshot.changes)
    }

    /// RFC 6902 operations that turn version `from` into version `to` (status aside: it is not versioned).
    func diff(of id: UUID, from: Int, to: Int) async throws -> [JSONPatch.Operation] {
        let a = try await snapshot(from, of: id)
        let b = try await snapshot(to, of: id)
        return JSONPatch.diff(a.config?.versionedJSON ?? .null, b.config?.versionedJSON ?? .null)
    }

    func history(of id: UUID, limit: Int, before: Int64?) async throws -> Page<HistoryEntry> {
        // Like every read, a deleted agent's history is gone from the API; it stays in the database
        // (and comes back with a restore).
        guard try await deps.agents.agent(id, tenant: tenantID) != nil else { throw ServiceError.agentNotFound() }
        return try await deps.versions.history(of: id, tenant: tenantID, limit: limit, before: before)
    }

    // MARK: Writes

    /// Validates, then inserts in one call that also judges the quota under the tenant's lock. A
    /// full tenant hears so even when its body has issues: it need not fix a body it cannot store.
    /// `id` is given by a task (its own id), so that running it again finds the agent it made.
    func create(_ config: AgentConfig, from template: Template? = nil, id: UUID? = nil, audit: Audit) async throws -> CachedAgent {
        let context = try await validationContext()
        let report = await validate(config, context)
        guard report.errors.isEmpty else {
            if try await deps.agents.countAgents(tenant: tenantID) >= context.limits.maxAgents {
                throw ServiceError.quotaReached(tier: context.tenant.tier, limit: context.limits.maxAgents)
            }
            throw ServiceError.validationFailed(report.issues)
        }
        let now = Date.storedNow()
        let agent = Agent(
            id: id ?? .v7(now: now),
            tenantID: tenantID,
            version: 1,
            config: config,
            validation: report,
            createdAt: now,
            updatedAt: now,
            createdBy: audit.actor,
            updatedBy: audit.actor,
            templateID: template?.id,
            templateVersion: template?.version
        )
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        try await deps.creates((agent, audit))
        return fill(agent, since: ticket)
    }

    /// Applies an RFC 7396 merge patch; a patch that changes nothing keeps the version. The status
    /// is not the patch's to change: it moves through `setStatus`. `counted`: one update against the
    /// tier's limit, refunded when no version was made.
    func patch(_ id: UUID, with patch: JSONValue, ifMatch: Int?, audit: Audit, counted: Bool = false) async throws -> CachedAgent {
        guard case .object(let fields) = patch else { throw ServiceError.malformed("A merge patch must be a JSON object") }
        guard fields["status"] == nil else {
            throw ServiceError.malformed("status changes through POST /v1/agents/{id}/status", field: "status")
        }
        // Also a field set to null: the merge would drop an unknown one without a word.
        try AgentConfig.checkPatchFields(fields, at: "")
        let context = try await validationContext()
        return try await countingWrites(updates: counted ? 1 : 0) {
            try await commitVersion(of: id, ifMatch: ifMatch, action: .updated, audit: audit) { current in
                let config = try AgentConfig(json: current.config.json.merging(patch: patch))
                guard config != current.config else { return nil }
                return try await self.checked(config, context)
            }
        }
    }

    /// A new version whose configuration is version `number`'s, checked against today's tier and
    /// catalog; the status stays. Rolling back to what the agent already is makes no version (and,
    /// `counted`, uses no update of the tier's limit).
    func rollback(_ id: UUID, to number: Int, ifMatch: Int?, audit: Audit, counted: Bool = false) async throws -> CachedAgent {
        let context = try await validationContext()
        // Read once, before any write: versions never change, and the locked fallback must not
        // need a second connection while it holds the row.
        guard let target = try await snapshot(number, of: id).config else { throw ServiceError.versionNotFound(number) }
        return try await countingWrites(updates: counted ? 1 : 0) {
            try await commitVersion(of: id, ifMatch: ifMatch, action: .rolledBack, audit: audit) { current in
                var config = target
                config.status = current.config.status
                guard config != current.config else { return nil }
                return try await self.checked(config, context)
            }
        }
    }

    /// A lifecycle move (see `AgentStatus.allowedTargets`); it makes no version. Entering `active`
    /// takes the `admin` role and an agent whose validation is not invalid.
    func setStatus(_ id: UUID, to status: AgentStatus, reason: String?, ifMatch: Int?, identity: Identity, audit: Audit) async throws -> CachedAgent {
        await startWriting(id)
        defer { finishWriting(id) }
        for attempt in 0..<Self.writeAttempts {
            try await backOff(attempt)
            let ticket = agents.withLock { $0.ticket() }
            defer { agents.withLock { $0.settle(ticket) } }
            let current = try await currentAgent(id, ifMatch: ifMatch)
            let from = current.config.status
            guard from.canMove(to: status) else { throw ServiceError.invalidTransition(from: from, to: status) }
            if status == .active {
                try identity.require(.admin)
                guard current.validation.status != .invalid else {
                    throw ServiceError.invalidTransition(from: from, to: status, reason: "An agent whose validation is invalid cannot become active")
                }
            }
            var next = current
            next.config.status = status
            next.revision += 1
            next.updatedAt = Date.storedNow()
            next.updatedBy = audit.actor
            if try await deps.agents.setStatus(next, from: current.revision, previous: from, reason: reason, audit: audit) {
                return fill(next, since: ticket)
            }
        }
        throw Self.contended
    }

    func delete(_ id: UUID, ifMatch: Int?, audit: Audit) async throws {
        await startWriting(id)
        defer { finishWriting(id) }
        switch try await deps.agents.delete(id, tenant: tenantID, ifVersion: ifMatch, audit: audit) {
        case .deleted:
            agents.withLock { $0.notice(id, version: Int.max) }
            configs.withLock { $0.notice(id, version: Int.max) }
        case .missing: throw ServiceError.agentNotFound()
        case .stale(let current): throw ServiceError.preconditionFailed(current: current)
        }
    }

    /// Undoes a delete within the retention window, if the quota has room and the name is free.
    func restore(_ id: UUID, audit: Audit) async throws -> CachedAgent {
        await startWriting(id)
        defer { finishWriting(id) }
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        guard let agent = try await deps.agents.restore(id, tenant: tenantID, retention: deps.retention, quota: deps.quota, audit: audit) else {
            throw ServiceError.agentNotFound()
        }
        return fill(agent, since: ticket)
    }

    // MARK: Change notices

    func apply(_ change: ChangeNotification) {
        switch change.kind {
        case .tenant, .tools:
            tenant.notice(0, version: nil)
        case .agent:
            guard let id = change.agentID else { return }
            let revision = change.deleted ? Int.max : change.revision
            agents.withLock { $0.notice(id, version: revision) }
            configs.withLock { $0.notice(id, version: revision) }
        }
    }

    /// What this replica wrote without a cache fill: drop what the caches hold of it.
    func noticeChanged(_ id: UUID, revision: Int) {
        agents.withLock { $0.notice(id, version: revision) }
        configs.withLock { $0.notice(id, version: revision) }
    }

    /// The listener went away or came back: either way, what was cached may have missed a notice.
    func setCaching(_ enabled: Bool) {
        agents.withLock { $0.reset(enabled: enabled) }
        configs.withLock { $0.reset(enabled: enabled) }
        tenant.reset(enabled: enabled)
    }

    var cachedCount: Int { agents.withLock { $0.count } }
    var isCaching: Bool { agents.withLock { $0.isEnabled } }

    // MARK: Helpers

    private static let contended = ServiceError(.databaseUnavailable, "The agent kept changing while this write was applied; retry")

    /// The write loop shared by every change that makes a version: read the agent, let `change`
    /// derive the new configuration (`nil`: nothing to change), store it if the row is still the
    /// one read, else read again.
    private func commitVersion(
        of id: UUID,
        ifMatch: Int?,
        action: HistoryEntry.Action,
        audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (AgentConfig, ValidationReport)?
    ) async throws -> (result: CachedAgent, wrote: Bool) {
        await startWriting(id)
        defer { finishWriting(id) }
        // What `change` makes of an agent, checked against If-Match after the body (a bad request
        // is reported as such before a stale If-Match: fixing it comes first).
        let step: @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)? = { current in
            let changed = try await change(current)
            if let ifMatch, ifMatch != current.version { throw ServiceError.preconditionFailed(current: current.version) }
            guard let (config, report) = changed else { return nil }
            return (Self.next(current, config, report, audit), .array(JSONPatch.diff(current.config.versionedJSON, config.versionedJSON).map(\.json)))
        }
        // A write that lost only because its cached start was stale (a notice not yet here) is
        // retried at once, and does not use up an attempt.
        var fromCache = false
        for attempt in 0..<Self.optimisticAttempts + 1 {
            try await backOff(fromCache ? attempt - 1 : attempt)
            let ticket = agents.withLock { $0.ticket() }
            defer { agents.withLock { $0.settle(ticket) } }
            let current: Agent
            let outcome: (next: Agent, changes: JSONValue)?
            if attempt == 0, let cached = cachedStart(id, ifMatch: ifMatch) {
                let first: Result<(next: Agent, changes: JSONValue)?, any Error>
                do { first = .success(try await step(cached)) } catch { first = .failure(error) }
                if case .success(let made?) = first {
                    (current, outcome, fromCache) = (cached, made, true)
                } else {
                    // Only a write relies on the revision check: a no-op or a refusal worked out on the
                    // cached version stands if the row is still that version, else it is worked out again.
                    current = try await currentAgent(id, ifMatch: nil)
                    outcome = current.revision == cached.revision ? try first.get() : try await step(current)
                }
            } else {
                if attempt == Self.optimisticAttempts, !fromCache { break }
                current = try await currentAgent(id, ifMatch: nil)
                outcome = try await step(current)
            }
            guard let (next, changes) = outcome else { return (fill(current, since: ticket), false) }
            if try await deps.updates(AgentUpdate(next, from: current.revision, action: action, changes: changes, audit: audit)) {
                return (fill(next, since: ticket), true)
            }
        }
        // Another replica keeps winning: read and write under the row's lock, which cannot lose.
        let ticket = agents.withLock { $0.ticket() }
        defer { agents.withLock { $0.settle(ticket) } }
        guard let outcome = try await deps.agents.updateLocked(id, tenant: tenantID, action: action, audit: audit, step) else {
            throw ServiceError.agentNotFound()
        }
        return (fill(outcome.next ?? outcome.current, since: ticket), outcome.next != nil)
    }

    private static func next(_ current: Agent, _ config: AgentConfig, _ report: ValidationReport, _ audit: Audit) -> Agent {
        var next = current
        next.config = config
        next.validation = report
        next.version += 1
        next.revision += 1
        next.updatedAt = Date.storedNow()
        next.updatedBy = audit.actor
        return next
    }

    /// A write's first reading: the cached version, when there is one and it is the one If-Match
    /// names. A stale one costs a retry, never an update: the write is conditional on the revision.
    func cachedStart(_ id: UUID, ifMatch: Int?) -> Agent? {
        guard let hit = agents.withLock({ $0.entry(id) }), ifMatch == nil || ifMatch == hit.value.version else { return nil }
        return Agent(encoded: hit.value.bytes, revision: hit.version)
    }

    private func currentAgent(_ id: UUID, ifMatch: Int?) async throws -> Agent {
        guard let current = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        if let ifMatch, ifMatch != current.version { throw ServiceError.preconditionFailed(current: current.version) }
        return current
    }

    private func snapshot(_ number: Int, of id: UUID) async throws -> AgentVersion {
        guard let snapshot = try await deps.versions.version(number, of: id, tenant: tenantID) else {
            // Tell a missing agent from a missing version.
            if try await deps.agents.agent(id, tenant: tenantID) == nil { throw ServiceError.agentNotFound() }
            throw ServiceError.versionNotFound(number)
        }
        return snapshot
    }

    private func checked(_ config: AgentConfig, _ context: ValidationContext) async throws -> (AgentConfig, ValidationReport) {
        let report = await validate(config, context)
        guard report.errors.isEmpty else { throw ServiceError.validationFailed(report.issues) }
        return (config, report)
    }

    /// Another replica won the race: wait a little (1–5 ms at first, at most 40), longer each time, before reading again.
    private static let raceBackoff = Backoff(initial: .milliseconds(3), maximum: .milliseconds(24), jitter: 0.66)

    private func backOff(_ attempt: Int) async throws {
        guard attempt > 0 else { return }
        try await Task.sleep(for: Self.raceBackoff.jittered(after: attempt))
    }

    private func fill(_ agent: Agent, since ticket: NoticeCoherentCache<UUID, CachedBody>.Ticket) -> CachedAgent {
        let entry = CachedAgent(agent)
        agents.withLock { _ = $0.fill(agent.id, version: agent.revision, entry.cacheValue, since: ticket) }
        configs.withLock { $0.notice(agent.id, version: agent.revision) }
        return entry
    }

    /// Waits until no other write of this agent is in progress here; pair with `finishWriting`.
    private func startWriting(_ id: UUID) async {
        guard writing[id] != nil else {
            writing[id] = []
            return
        }
        await withCheckedContinuation { writing[id, default: []].append($0) }
    }

    /// Hands the agent to the next waiting write, in arrival order.
    private func finishWriting(_ id: UUID) {
        guard var waiting = writing[id], !waiting.isEmpty else {
            writing[id] = nil
            return
        }
        let next = waiting.removeFirst()
        writing[id] = waiting
        next.resume()
    }

    /// The tenant's tier, cached like the rest of the tenant.
    func tier() async throws -> Tier { try await currentTenant().tier }

    private func currentTenant() async throws -> Tenant {
        if let cached = tenant[0] { return cached }
        let ticket = tenant.ticket()
        defer { tenant.settle(ticket) }
        let loaded = try await deps.tenants.tenant(tenantID)
        tenant.fill(0, version: 0, loaded, since: ticket)
        return loaded
    }

    /// Every validator over `config`, counted and timed for `/metrics`.
    func validate(_ config: AgentConfig, _ context: ValidationContext) async -> ValidationReport {
        let started = ContinuousClock.now
        let report = await deps.validators.validate(config, context: context)
        deps.metrics.validationDuration.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
        (report.errors.isEmpty ? deps.metrics.validDrafts : deps.metrics.invalidDrafts).increment()
        return report
    }

    func validationContext() async throws -> ValidationContext {
        let tenant = try await currentTenant()
        return ValidationContext(
            tenant: tenant,
            limits: deps.policy[tenant.tier],
            catalog: try await deps.catalog.current(),
            rules: deps.policy.rules
        )
    }
}

extension Date {
    /// Now, to the millisecond: what Postgres stores and the API shows, so a response built from
    /// what was written matches a later read byte for byte.
    static func storedNow() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}
