import Synchronization

/// How far the sequenced events go, and how far each sink got: sinks follow it each at its own
/// pace, and readiness and metrics read it. Synchronous and lock-guarded, so the notifier and the
/// listener's event loop can publish without waiting.
final class EventFeed: Sendable {
    private struct State {
        var newest: Int64 = 0
        /// Whether `newest` was ever published: until then followers hear nothing.
        var known = false
        var followers: [Int: AsyncStream<Int64>.Continuation] = [:]
        var nextFollower = 0
        var delivered: [String: Int64] = [:]
    }

    private let state = Mutex(State())

    var newest: Int64 { state.withLock { $0.newest } }

    /// Each sink's lag: newest sequence minus what it delivered.
    var lags: [String: Int64] {
        state.withLock { s in s.delivered.mapValues { max(0, s.newest - $0) } }
    }

    /// A newer sequence wakes every follower; `again` wakes them with the same one (the sweep:
    /// a sink that another replica was serving may have been left behind).
    func publish(_ newest: Int64, again: Bool = false) {
        state.withLock { s in
            // Waking again says nothing until a sequence is known.
            guard again ? s.known : (newest > s.newest || !s.known) else { return }
            s.newest = max(s.newest, newest)
            s.known = true
            for follower in s.followers.values { follower.yield(s.newest) }
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

    /// Forgets the sinks' positions (this replica stopped leading: another delivers now).
    func forgetDelivered() {
        state.withLock { $0.delivered = [:] }
    }

    func report(_ sink: String, delivered: Int64) {
        state.withLock { $0.delivered[sink] = delivered }
    }
}
