import Domain
import Synchronization

/// How far the sequenced events go, and how far each sink got: sinks follow it each at its own
/// pace, and readiness and metrics read it. Synchronous and lock-guarded, so the notifier and the
/// listener's event loop can publish without waiting. On the leader it also keeps the newest
/// events it sequenced, so that its sinks send them without reading them back from Postgres.
final class EventFeed: Sendable {
    /// The newest events the leader sequenced, consecutive, at most `capacity` of them.
    private struct Recent {
        var events: [ChangeEvent] = []
        var start = 0
        let capacity: Int

        var count: Int { events.count - start }
        var first: Int64? { count > 0 ? events[start].sequence : nil }
        var last: Int64? { events.last?.sequence }

        mutating func append(_ batch: [ChangeEvent]) {
            // Kept events are consecutive: a gap (another leader sequenced meanwhile) starts over.
            for event in batch {
                if let last, last + 1 != event.sequence { clear() }
                events.append(event)
            }
            if count > capacity {
                start = events.count - capacity
                // Compacted once the dropped part is as large as what is kept, so appends stay amortised O(1).
                if start >= capacity {
                    events.removeFirst(start)
                    start = 0
                }
            }
        }

        mutating func clear() {
            events.removeAll(keepingCapacity: true)
            start = 0
        }

        func after(_ sequence: Int64, limit: Int) -> [ChangeEvent]? {
            guard let first, let last, sequence >= first - 1, sequence <= last else { return nil }
            let from = start + Int(sequence - first + 1)
            return Array(events[from..<min(events.count, from + limit)])
        }
    }

    private struct State {
        var newest: Int64 = 0
        /// Whether `newest` was ever published: until then followers hear nothing.
        var known = false
        var followers: [Int: AsyncStream<Int64>.Continuation] = [:]
        var nextFollower = 0
        var delivered: [String: Int64] = [:]
        var recent: Recent
        /// Sequenced here, their commit not yet confirmed by its notice.
        var staged: [ChangeEvent] = []

        /// Moves the staged events that the newest known sequence covers into `recent`.
        mutating func keepCommitted() {
            guard known, let first = staged.first, first.sequence <= newest else { return }
            let committed = staged.prefix { $0.sequence <= newest }
            recent.append(Array(committed))
            staged.removeFirst(committed.count)
        }
    }

    private let state: Mutex<State>

    init(keep capacity: Int = 1024) {
        state = Mutex(State(recent: Recent(capacity: capacity)))
    }

    var newest: Int64 { state.withLock { $0.newest } }

    /// Each sink's lag: newest sequence minus what it delivered.
    var lags: [String: Int64] {
        state.withLock { s in s.delivered.mapValues { max(0, s.newest - $0) } }
    }

    /// A committed sequence: a newer one wakes every follower; `again` wakes them with the same one
    /// (the sweep: a sink that another replica was serving may have been left behind). Events this
    /// replica sequenced up to it are kept for `recent` from now on.
    func publish(_ newest: Int64, again: Bool = false) {
        state.withLock { s in
            // Waking again says nothing until a sequence is known.
            guard again ? s.known : (newest > s.newest || !s.known) else { return }
            s.newest = max(s.newest, newest)
            s.known = true
            s.keepCommitted()
            for follower in s.followers.values { follower.yield(s.newest) }
        }
    }

    /// Events this replica (the leader) just sequenced, in order. They are kept for `recent` only
    /// once their sequence is known committed: the `ams_events` notice of the sequencing commit,
    /// which can come before or after this call. Until then followers read Postgres, where an
    /// uncommitted number is never seen.
    func stage(_ events: [ChangeEvent]) {
        guard !events.isEmpty else { return }
        state.withLock { s in
            s.staged.append(contentsOf: events)
            if s.staged.count > s.recent.capacity { s.staged.removeFirst(s.staged.count - s.recent.capacity) }
            // The notice came first: the followers already read these from Postgres; keeping them
            // for later rounds needs no wake.
            s.keepCommitted()
        }
    }

    /// The newest sequence now (once known) and after every change; only the latest is kept for a
    /// slow follower.
    func follow() -> AsyncStream<Int64> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int64.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { s in
            let id = s.nextFollower
            s.nextFollower += 1
            s.followers[id] = continuation
            if s.known { continuation.yield(s.newest) }
            continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.followers.removeValue(forKey: id) } }
        }
        return stream
    }

    /// Forgets the sinks' positions and the kept events (this replica stopped leading: another
    /// sequences and delivers now).
    func forgetDelivered() {
        state.withLock { s in
            s.delivered = [:]
            s.recent.clear()
            s.staged.removeAll()
        }
    }

    /// The kept events after `sequence`, at most `limit`; `nil` when they are not all kept (read
    /// them from Postgres then).
    func recent(after sequence: Int64, limit: Int) -> [ChangeEvent]? {
        state.withLock { s in
            // Kept events that stop short of the newest sequence known would end a follower's
            // round early: it reads Postgres instead.
            guard let last = s.recent.last, last >= s.newest || last >= sequence + Int64(limit) else { return nil }
            return s.recent.after(sequence, limit: limit)
        }
    }

    func report(_ sink: String, delivered: Int64) {
        state.withLock { $0.delivered[sink] = delivered }
    }
}
