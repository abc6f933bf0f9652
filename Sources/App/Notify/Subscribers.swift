import Domain
import Synchronization

/// This replica's tenant WebSocket subscribers. Each has a bounded buffer of events: one that
/// cannot keep up is cut off (its stream ends and `overflowed` says why) instead of buffering
/// without limit.
final class Subscribers: Sendable {
    private struct State {
        var next = 0
        var byTenant: [TenantID: [Int: AsyncStream<ChangeEvent>.Continuation]] = [:]
        var overflowed: Set<Int> = []
    }

    let bound: Int
    private let state = Mutex(State())

    init(bound: Int = 1024) { self.bound = bound }

    var isEmpty: Bool { state.withLock { $0.byTenant.isEmpty } }

    func subscribe(_ tenant: TenantID) -> (id: Int, events: AsyncStream<ChangeEvent>) {
        let (stream, continuation) = AsyncStream.makeStream(of: ChangeEvent.self, bufferingPolicy: .bufferingOldest(bound))
        let id = state.withLock { s in
            let id = s.next
            s.next += 1
            s.byTenant[tenant, default: [:]][id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in self?.remove(id, tenant) }
        return (id, stream)
    }

    /// True once the subscriber's buffer overflowed (and its stream was ended for that).
    func overflowed(_ id: Int) -> Bool { state.withLock { $0.overflowed.contains(id) } }

    func publish(_ events: [ChangeEvent]) {
        let cut = state.withLock { s in
            var cut: [AsyncStream<ChangeEvent>.Continuation] = []
            for event in events {
                guard let subscribers = s.byTenant[event.tenantID] else { continue }
                for (id, continuation) in subscribers {
                    if case .dropped = continuation.yield(event) {
                        s.overflowed.insert(id)
                        s.byTenant[event.tenantID]?[id] = nil
                        cut.append(continuation)
                    }
                }
            }
            return cut
        }
        // Outside the lock: ending a stream runs its termination handler, which takes the lock.
        for continuation in cut { continuation.finish() }
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
