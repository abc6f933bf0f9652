import Domain
import Synchronization

/// This replica's tenant WebSocket subscribers. Each has a bounded buffer of events: one that
/// cannot keep up is cut off (its stream ends, `overflowed` says why, and `onOverflow` runs at
/// once, since its sender may be stuck on a full socket) instead of buffering without limit. A
/// subscriber still replaying (`since`) is not cut off: what its buffer dropped is in the store,
/// and it replays again from a new subscription (see `caughtUp`).
final class Subscribers: Sendable {
    struct Subscriber {
        let events: AsyncStream<ChangeEvent>.Continuation
        let onOverflow: @Sendable () -> Void
    }

    private struct State {
        var next = 0
        var byTenant: [TenantID: [Int: Subscriber]] = [:]
        var overflowed: Set<Int> = []
        var replaying: Set<Int> = []
        var started = false
        /// Where the sink started, and the sequence through which it has handed subscribers every
        /// event (or passed them by, with none here).
        var first: Int64?
        var position: Int64?
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

    /// True once the sink stopped: no subscriber is taken any more.
    var isFinished: Bool { state.withLock { $0.finished } }

    /// Where the sink started (`nil` until it did, and when it stopped before).
    var first: Int64? { state.withLock { $0.first } }

    /// `nil` when the tenant has `perTenant` subscribers here already, or the sink has stopped.
    /// `after` is the sequence the subscriber's events come after (`nil` until the sink started:
    /// then `first`), the position to name to a subscriber that received nothing.
    func subscribe(
        _ tenant: TenantID,
        replaying: Bool = false,
        onOverflow: @escaping @Sendable () -> Void = {}
    ) -> (id: Int, events: AsyncStream<ChangeEvent>, after: Int64?)? {
        let (stream, continuation) = AsyncStream.makeStream(of: ChangeEvent.self, bufferingPolicy: .bufferingOldest(bound))
        let subscribed: (id: Int, after: Int64?)? = state.withLock { s in
            guard !s.finished, (s.byTenant[tenant]?.count ?? 0) < perTenant else { return nil }
            let id = s.next
            s.next += 1
            s.byTenant[tenant, default: [:]][id] = Subscriber(events: continuation, onOverflow: onOverflow)
            if replaying { s.replaying.insert(id) }
            return (id, s.position)
        }
        guard let subscribed else { return nil }
        let id = subscribed.id
        continuation.onTermination = { [weak self] _ in self?.remove(id, tenant) }
        return (id, stream, subscribed.after)
    }

    /// The subscriber's replay caught up with the store: from now on an overflow cuts it off. False
    /// when its buffer overflowed meanwhile: it must replay the rest from a new subscription.
    func caughtUp(_ id: Int) -> Bool {
        state.withLock { s in
            s.replaying.remove(id)
            return !s.overflowed.contains(id)
        }
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

    /// The sink starts after sequence `position`.
    func start(at position: Int64) {
        let waiting = state.withLock { s in
            s.started = true
            s.first = position
            s.position = position
            defer { s.waiting = [] }
            return s.waiting
        }
        for waiter in waiting { waiter.resume() }
    }

    /// True once the subscriber's buffer overflowed (and its stream was ended for that).
    func overflowed(_ id: Int) -> Bool { state.withLock { $0.overflowed.contains(id) } }

    func publish(_ events: [ChangeEvent]) {
        let cut = state.withLock { s in
            var cut: [(subscriber: Subscriber, live: Bool)] = []
            for event in events {
                guard let subscribers = s.byTenant[event.tenantID] else { continue }
                for (id, subscriber) in subscribers {
                    if case .dropped = subscriber.events.yield(event) {
                        s.overflowed.insert(id)
                        s.byTenant[event.tenantID]?[id] = nil
                        cut.append((subscriber, !s.replaying.contains(id)))
                    }
                }
            }
            if let last = events.last?.sequence { s.position = max(s.position ?? last, last) }
            return cut
        }
        // Outside the lock: ending a stream runs its termination handler, which takes the lock.
        for (subscriber, live) in cut {
            subscriber.events.finish()
            if live { subscriber.onOverflow() }
        }
    }

    /// With no subscriber here, the sink passes the events through `position` by: true then.
    func skip(through position: Int64) -> Bool {
        state.withLock { s in
            guard s.byTenant.isEmpty else { return false }
            s.position = max(s.position ?? position, position)
            return true
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

    /// Forgets an overflow once the subscriber was told (or subscribed again).
    func forget(_ id: Int) {
        state.withLock { s in
            s.overflowed.remove(id)
            s.replaying.remove(id)
        }
    }
}
