import CoreMetrics
import Domain
import Infra
import Logging
import ServiceLifecycle
import Synchronization

/// Sink 1: every event to the orchestrator's WebSocket, from the replica that leads the notifier.
///
/// Events go out in sequence order, each as the envelope, then the tenant-channel frame for agent
/// events. One counts as delivered only once the orchestrator confirms it: an `{"ack": n}` frame,
/// or the pong to a ping sent after it (each ping carries the newest sequence sent before it).
/// The confirmed position lives in Postgres; after a reconnect, or on the replica that takes over,
/// everything after it is sent again, in order. Nothing is dropped while the orchestrator is away.
struct OrchestratorSink: Service {
    static let name = "orchestrator"

    let link: OrchestratorLink
    let store: any EventStore
    let feed: EventFeed
    let notifier: Notifier
    let status: LinkStatus
    var pingInterval = Duration.seconds(30)
    var batch = 500
    let lag: CoreMetrics.Gauge
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Backoff()
            let confirmed = Position()
            for await _ in feed.follow() {
                while notifier.isLeading, !Task.isCancelled {
                    status.set(.authenticating)
                    do {
                        // The position is taken before the first attempt: what commits while
                        // the orchestrator cannot be reached is sent once it can.
                        if confirmed.value < 0 { _ = confirmed.raise(to: try await store.confirmed(sink: Self.name)) }
                        try await link.run { writer, confirmations in
                            status.set(.connected)
                            logger.info("orchestrator link authenticated")
                            try await session(writer, confirmations, confirmed: confirmed)
                        }
                    } catch is CancellationError {
                        break
                    } catch is LeadershipLost {
                        break
                    } catch {
                        logger.warning("orchestrator link failed", metadata: ["error": "\(String(reflecting: error))"])
                    }
                    guard notifier.isLeading, !Task.isCancelled else { break }
                    // The wait starts over after an authenticated connection.
                    if status.current == .connected { backoff.reset() }
                    status.set(.backingOff)
                    try? await Task.sleep(for: backoff.next())
                }
                status.set(.off)
            }
        }
        status.set(.off)
    }

    struct LeadershipLost: Error {}
    struct PongOverdue: Error {}

    /// One connection's life: sends from the confirmed position, pings, records confirmations.
    /// Ends (throws) when the link fails, a ping goes unanswered for a whole interval, or this
    /// replica stops leading.
    private func session(
        _ writer: OrchestratorLink.Writer, _ confirmations: AsyncThrowingStream<OrchestratorLink.Confirmation, any Error>,
        confirmed: Position
    ) async throws {
        let start = max(try await store.confirmed(sink: Self.name), confirmed.value)
        _ = confirmed.raise(to: start)
        feed.report(Self.name, delivered: start)
        let state = SessionState(sent: start)
        let (toStore, storeNext) = AsyncStream.makeStream(of: Int64.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            // What the orchestrator confirms; the position is written behind, the newest only.
            group.addTask {
                for try await confirmation in confirmations {
                    let through: Int64
                    var again: Int64?
                    switch confirmation {
                    case .ack(let n): through = min(n, state.withLock { $0.sent })
                    case .pong(let n):
                        through = n
                        // Events sent while this ping was out get a ping of their own at once.
                        again = state.withLock { s -> Int64? in
                            if s.ping?.sequence == n { s.ping = nil }
                            guard s.ping == nil, s.sent > n else { return nil }
                            s.ping = (s.sent, .now)
                            return s.sent
                        }
                    }
                    if confirmed.raise(to: through) { storeNext.yield(through) }
                    if let again { try await writer.ping(again) }
                }
            }
            group.addTask {
                for await through in toStore {
                    try await store.confirm(sink: Self.name, through: through)
                    feed.report(Self.name, delivered: through)
                    lag.record(max(0, feed.newest - through))
                }
            }
            // Events in order, as far as the notifier knows; a ping after each round asks for the
            // confirmation (one at a time).
            group.addTask {
                var sent = start
                for await newest in feed.follow() {
                    while sent < newest {
                        let events = try await store.events(after: sent, limit: batch)
                        guard let last = events.last?.sequence else { break }
                        for event in events {
                            try await writer.send(event.envelope)
                            if let frame = event.tenantChannelFrame { try await writer.send(frame) }
                        }
                        sent = last
                        let ping = state.withLock { s -> Bool in
                            s.sent = last
                            guard s.ping == nil else { return false }
                            s.ping = (last, .now)
                            return true
                        }
                        if ping { try await writer.ping(last) }
                    }
                }
            }
            // Keeps the link alive, notices a dead one, and notices losing the lead.
            group.addTask {
                var sinceLastPing = Duration.zero
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    guard notifier.isLeading else { throw LeadershipLost() }
                    sinceLastPing += .milliseconds(250)
                    let interval = pingInterval
                    let due = sinceLastPing >= interval
                    let (overdue, ping) = state.withLock { s -> (Bool, Int64?) in
                        if let ping = s.ping { return (ContinuousClock.now - ping.at > interval, nil) }
                        guard due else { return (false, nil) }
                        s.ping = (s.sent, .now)
                        return (false, s.sent)
                    }
                    if overdue { throw PongOverdue() }
                    if let ping {
                        sinceLastPing = .zero
                        try await writer.ping(ping)
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// What one connection has sent, and the ping waiting for its pong: the sequence it confirms
    /// and when it went.
    private final class SessionState: Sendable {
        struct Values {
            var sent: Int64
            var ping: (sequence: Int64, at: ContinuousClock.Instant)?
        }

        private let values: Mutex<Values>

        init(sent: Int64) { values = Mutex(Values(sent: sent)) }

        func withLock<R>(_ body: (inout Values) -> R) -> R { values.withLock { body(&$0) } }
    }
}

/// The orchestrator link as readiness shows it.
final class LinkStatus: Sendable {
    enum State: String, Sendable {
        case off, authenticating, connected
        case backingOff = "backing_off"
    }

    private let state = Mutex(State.off)

    var current: State { state.withLock { $0 } }

    func set(_ new: State) { state.withLock { $0 = new } }
}

/// The newest confirmed sequence, kept across connections of this replica.
final class Position: Sendable {
    private let atomic = Atomic<Int64>(-1)

    var value: Int64 { atomic.load(ordering: .relaxed) }

    /// Raises the value to `candidate`; answers whether it rose.
    func raise(to candidate: Int64) -> Bool {
        var current = value
        while candidate > current {
            let (exchanged, original) = atomic.compareExchange(expected: current, desired: candidate, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
