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
            var backoff = Backoff(initial: .seconds(1), multiplier: 1.5, maximum: .seconds(30), jitter: 0.2)
            let confirmed = Position()
            for await _ in feed.follow() {
                while notifier.isLeading, !Task.isCancelled {
                    status.set(.authenticating)
                    do {
                        // The position is read before connecting: what commits while the
                        // orchestrator cannot be reached is sent once it can, and a database
                        // that is away costs no connection to the orchestrator.
                        let start = max(try await store.confirmed(sink: Self.name), confirmed.value)
                        _ = confirmed.raise(to: start)
                        try await link.run { writer, confirmations in
                            status.set(.connected)
                            logger.info("orchestrator link authenticated")
                            try await session(writer, confirmations, from: start, confirmed: confirmed)
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
    /// replica stops leading. Database trouble does not end it: reads and position writes are
    /// tried again while the link stays up.
    private func session(
        _ writer: OrchestratorLink.Writer,
        _ confirmations: AsyncThrowingStream<OrchestratorLink.Confirmation, any Error>,
        from start: Int64,
        confirmed: Position
    ) async throws {
        feed.report(Self.name, delivered: start)
        let state = SessionState(sent: start)
        let (toStore, storeNext) = AsyncStream.makeStream(of: Int64.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            // What the orchestrator confirms: an ack up to what was sent, or the pong that
            // answers the ping waiting for one. The position is written behind, the newest only.
            group.addTask {
                for try await confirmation in confirmations {
                    var through: Int64?
                    var again: Int64?
                    state.withLock { s in
                        switch confirmation {
                        case .ack(let n): through = min(n, s.sent)
                        case .pong(let n):
                            guard let ping = s.ping, ping.sequence == n else { return }
                            through = n
                            s.ping = nil
                            // Events sent while this ping was out get a ping of their own at once.
                            if s.sent > n {
                                s.ping = (s.sent, .now)
                                again = s.sent
                            }
                        }
                    }
                    if let through, confirmed.raise(to: through) { storeNext.yield(through) }
                    if let again { try await writer.ping(again) }
                }
            }
            group.addTask {
                for await through in toStore {
                    while true {
                        do {
                            try await store.confirm(sink: Self.name, through: max(through, confirmed.value))
                            break
                        } catch {
                            logger.warning("orchestrator position could not be stored", metadata: ["error": "\(String(reflecting: error))"])
                            try await Task.sleep(for: .seconds(1))
                        }
                    }
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
                        let events: [ChangeEvent]
                        do {
                            if let kept = feed.recent(after: sent, limit: batch) {
                                events = kept
                            } else {
                                events = try await store.events(after: sent, limit: batch)
                            }
                        } catch {
                            logger.warning("events for the orchestrator could not be read", metadata: ["error": "\(String(reflecting: error))"])
                            try await Task.sleep(for: .seconds(1))
                            continue
                        }
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
            // The keep-alive ping, when none went out for an interval.
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    let interval = pingInterval
                    let due = state.withLock { s -> Int64? in
                        guard s.ping == nil, ContinuousClock.now - s.lastPing >= interval else { return nil }
                        s.ping = (s.sent, .now)
                        return s.sent
                    }
                    if let due { try await writer.ping(due) }
                }
            }
            // The watchdog never writes, so a write stuck on an orchestrator that stopped reading
            // cannot keep it from ending the connection (which fails that write).
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    let interval = pingInterval
                    if !notifier.isLeading {
                        writer.abort()
                        throw LeadershipLost()
                    }
                    if state.withLock({ s in s.ping.map { ContinuousClock.now - $0.at > interval } ?? false }) {
                        writer.abort()
                        throw PongOverdue()
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
            var ping: (sequence: Int64, at: ContinuousClock.Instant)? {
                didSet { if let ping { lastPing = ping.at } }
            }
            var lastPing = ContinuousClock.now
        }

        private let values: Mutex<Values>

        init(sent: Int64) { values = Mutex(Values(sent: sent)) }

        func withLock<R>(_ body: (inout Values) -> R) -> R { values.withLock { body(&$0) } }
    }
}

/// The orchestrator link as readiness shows it.
final class LinkStatus: Sendable {
    enum State: String, Sendable, CaseIterable {
        case off, authenticating, connected
        case backingOff = "backing_off"
    }

    private let state = Mutex(State.off)
    /// Shows the state at `/metrics` too.
    private let gauge: OrchestratorLinkGauge?

    init(gauge: OrchestratorLinkGauge? = nil) { self.gauge = gauge }

    var current: State { state.withLock { $0 } }

    func set(_ new: State) {
        state.withLock {
            $0 = new
            gauge?.record(new)
        }
    }
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
