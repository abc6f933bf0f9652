import Domain
import Synchronization

/// This replica's tenant WebSocket subscribers. Each has a bounded buffer of events: one that
/// cannot keep up is cut off (its stream ends, `overflowed` says why, and `onOverflow` runs at
/// once, since its sender may be stuck on a full socket) instead of buffering without limit.
final class Subscribers: Sendable {
    struct Subscriber {
        let events: AsyncStream<ChangeEvent>.Continuation
        let onOverflow: @Sendable () -> Void
    }

    private struct State {
        var next = 0
        var byTenant: [TenantID: [Int: Subscriber]] = [:]
        var overflowed: Set<Int> = []
        var started = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var finished = false
    }

    /// Events waiting per subscriber, and subscribers per tenant on this replica, at most.
    let bound: Int
    let perTenant: Int
    private let state = Mutex(State())

    init(bound: Int = 1024, perTenant: Int = 100) {
        self.bound = bound
        self.perTenant = perTenant
    }

    var isEmpty: Bool { state.withLock { $0.byTenant.isEmpty } }

    /// `nil` when the tenant has `perTenant` subscribers here already, or the sink has stopped.
    func subscribe(_ tenant: TenantID, onOverflow: @escaping @Sendable () -> Void = {}) -> (id: Int, events: AsyncStream<ChangeEvent>)? {
        let (stream, continuation) = AsyncStream.makeStream(of: ChangeEvent.self, bufferingPolicy: .bufferingOldest(bound))
        let id: Int? = state.withLock { s in
            guard !s.finished, (s.byTenant[tenant]?.count ?? 0) < perTenant else { return nil }
            let id = s.next
            s.next += 1
            s.byTenant[tenant, default: [:]][id] = Subscriber(events: continuation, onOverflow: onOverflow)
            return id
        }
        guard let id else { return nil }
        continuation.onTermination = { [weak self] _ in self?.remove(id, tenant) }
        return (id, stream)
    }

    /// Waits until the sink knows where it starts (see `SubscriberSink`).
    func started() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.started { return true }
                s.waiting.append(waiter)
                return false
            }
            if now { waiter.resume() }
        }
    }

    func start() {
        let waiting = state.withLock { s in
            s.started = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for waiter in waiting { waiter.resume() }
    }

    /// True once the subscriber's buffer overflowed (and its stream was ended for that).
    func overflowed(_ id: Int) -> Bool { state.withLock { $0.overflowed.contains(id) } }

    func publish(_ events: [ChangeEvent]) {
        let cut = state.withLock { s in
            var cut: [Subscriber] = []
            for event in events {
                guard let subscribers = s.byTenant[event.tenantID] else { continue }
                for (id, subscriber) in subscribers {
                    if case .dropped = subscriber.events.yield(event) {
                        s.overflowed.insert(id)
                        s.byTenant[event.tenantID]?[id] = nil
                        cut.append(subscriber)
                    }
                }
            }
            return cut
        }
        // Outside the lock: ending a stream runs its termination handler, which takes the lock.
        for subscriber in cut {
            subscriber.events.finish()
            subscriber.onOverflow()
        }
    }

    /// Ends every stream (the sink stopped: this replica is shutting down).
    func finishAll() {
        let (all, waiting) = state.withLock { s in
            s.finished = true
            s.started = true
            defer { s.waiting = [] }
            return (s.byTenant.values.flatMap(\.values), s.waiting)
        }
        for subscriber in all { subscriber.events.finish() }
        for waiter in waiting { waiter.resume() }
    }

    private func remove(_ id: Int, _ tenant: TenantID) {
        state.withLock { s in
            s.byTenant[tenant]?[id] = nil
            if s.byTenant[tenant]?.isEmpty == true { s.byTenant[tenant] = nil }
        }
    }

    /// Forgets an overflow once the subscriber was told.
    func forget(_ id: Int) { state.withLock { _ = $0.overflowed.remove(id) } }
}
