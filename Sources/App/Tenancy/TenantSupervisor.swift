import Domain
import Logging
import ServiceLifecycle
import Synchronization

/// Routes each tenant's calls and change notices to that tenant's actor, creating actors on first
/// use, and retiring idle ones (and the least recently used beyond `maxTenants`) so memory stays bounded.
/// Finding a tenant's actor is on every request's path, so the registry sits behind a `Mutex` and
/// is read without a hop onto this actor.
actor TenantSupervisor: Service {
    private struct Registry {
        var tenants: [TenantID: (actor: TenantActor, lastUsed: ContinuousClock.Instant)] = [:]
        var listening = false
        /// Counts listener state changes, so a change overtaken by a newer one stops telling actors.
        var generation: UInt64 = 0
    }

    private let deps: TenantDependencies
    private let maxTenants: Int
    private let idleTimeout: Duration
    private let logger: Logger
    private let registry = Mutex(Registry())

    init(deps: TenantDependencies, maxTenants: Int, idleTimeout: Duration, logger: Logger) {
        self.deps = deps
        self.maxTenants = maxTenants
        self.idleTimeout = idleTimeout
        self.logger = logger
    }

    nonisolated func tenant(_ id: TenantID) -> TenantActor {
        let now = ContinuousClock.now
        return registry.withLock { r in
            if let entry = r.tenants[id] {
                r.tenants[id] = (entry.actor, now)
                return entry.actor
            }
            if r.tenants.count >= maxTenants, let oldest = r.tenants.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                r.tenants[oldest] = nil
            }
            // Created under the lock that `setListening` takes: either it starts with the new
            // state, or it is among the actors told of the change.
            let actor = TenantActor(tenantID: id, deps: deps, caching: r.listening)
            r.tenants[id] = (actor, now)
            deps.metrics.tenantActors.record(r.tenants.count)
            return actor
        }
    }

    func route(_ change: ChangeNotification) async {
        deps.metrics.notices.increment()
        switch change.kind {
        case .tools:
            await deps.catalog.invalidate()
        case .agent, .tenant:
            guard let id = change.tenantID, let actor = registry.withLock({ $0.tenants[id]?.actor }) else { return }
            await actor.apply(change)
        }
    }

    func setListening(_ enabled: Bool) async {
        deps.metrics.listenerConnected.record(enabled ? 1 : 0)
        let change: (generation: UInt64, actors: [TenantActor])? = registry.withLock { r in
            guard enabled != r.listening || enabled else { return nil }
            r.listening = enabled
            r.generation += 1
            return (r.generation, r.tenants.values.map(\.actor))
        }
        guard let change else { return }
        // Disabled while it was listening: the listener lost its connection (or a heartbeat).
        if !enabled { deps.metrics.listenerDisconnects.increment() }
        // This actor suspends at each await, so a newer change may run meanwhile: it has told (or
        // will tell) every actor itself, and this one must not undo it.
        func current() -> Bool { registry.withLock { $0.generation == change.generation } }
        guard current() else { return }
        await deps.catalog.setCaching(enabled)
        for actor in change.actors {
            guard current() else { return }
            await actor.setCaching(enabled)
        }
    }

    nonisolated var isListening: Bool { registry.withLock { $0.listening } }
    nonisolated var tenantCount: Int { registry.withLock { $0.tenants.count } }

    nonisolated func retireIdle(now: ContinuousClock.Instant = .now) {
        let (before, after) = registry.withLock { r in
            let before = r.tenants.count
            r.tenants = r.tenants.filter { now - $0.value.lastUsed < idleTimeout }
            deps.metrics.tenantActors.record(r.tenants.count)
            return (before, r.tenants.count)
        }
        if after != before {
            logger.debug("idle tenant actors retired", metadata: ["count": "\(before - after)"])
        }
    }

    func run() async throws {
        let period = max(idleTimeout / 4, .milliseconds(100))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                self.retireIdle()
            }
        }
    }
}
