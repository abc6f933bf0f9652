import Domain
import Logging
import ServiceLifecycle

/// Routes each tenant's calls and change notices to that tenant's actor, creating actors on first
/// use, and retiring idle ones (and the least recently used beyond `maxTenants`) so memory stays bounded.
actor TenantSupervisor: Service {
    private let deps: TenantDependencies
    private let maxTenants: Int
    private let idleTimeout: Duration
    private let logger: Logger
    private var tenants: [TenantID: (actor: TenantActor, lastUsed: ContinuousClock.Instant)] = [:]
    private var listening = false

    init(deps: TenantDependencies, maxTenants: Int, idleTimeout: Duration, logger: Logger) {
        self.deps = deps
        self.maxTenants = maxTenants
        self.idleTimeout = idleTimeout
        self.logger = logger
    }

    func tenant(_ id: TenantID) -> TenantActor {
        let now = ContinuousClock.now
        if let entry = tenants[id] {
            tenants[id] = (entry.actor, now)
            return entry.actor
        }
        if tenants.count >= maxTenants, let oldest = tenants.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
            tenants[oldest] = nil
        }
        let actor = TenantActor(tenantID: id, deps: deps, caching: listening)
        tenants[id] = (actor, now)
        deps.metrics.tenantActors.record(tenants.count)
        return actor
    }

    func route(_ change: ChangeNotification) async {
        deps.metrics.notices.increment()
        switch change.kind {
        case .tools:
            await deps.catalog.invalidate()
        case .agent, .tenant:
            guard let id = change.tenantID, let actor = tenants[id]?.actor else { return }
            await actor.apply(change)
        }
    }

    func setListening(_ enabled: Bool) async {
        deps.metrics.listenerConnected.record(enabled ? 1 : 0)
        guard enabled != listening || enabled else { return }
        listening = enabled
        await deps.catalog.setCaching(enabled)
        for entry in tenants.values {
            await entry.actor.setCaching(enabled)
        }
    }

    var isListening: Bool { listening }
    var tenantCount: Int { tenants.count }

    func retireIdle(now: ContinuousClock.Instant = .now) {
        let before = tenants.count
        tenants = tenants.filter { now - $0.value.lastUsed < idleTimeout }
        deps.metrics.tenantActors.record(tenants.count)
        if tenants.count != before {
            logger.debug("idle tenant actors retired", metadata: ["count": "\(before - tenants.count)"])
        }
    }

    func run() async throws {
        let period = max(idleTimeout / 4, .milliseconds(100))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                await self.retireIdle()
            }
        }
    }
}
