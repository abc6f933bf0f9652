import CoreMetrics
import Dispatch
import Domain
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// Bounds every database call in time and turns database trouble into AMS-502.
///
/// Postgres ends slow statements and lock waits itself (`statement_timeout`, `lock_timeout`, set
/// per connection); this deadline, a little later, covers a connection that stops answering at all.
/// It closes the connection the call holds, so the stuck query fails at once and the connection is
/// never handed to the next request. Only an unreachable database opens the breaker, which then
/// refuses calls for `coolDown` instead of letting them queue on the pool.
struct DatabaseGuard: Sendable {
    struct Timeout: Error {}

    let timeout: Duration
    let coolDown: Duration
    private let breaker = Breaker()
    /// When a guarded call last got a connection: a call that waited in vain while others got
    /// theirs met a busy pool (a lock pile-up, say), not an unreachable database.
    private let lastLease = Clock()

    let metrics: DatabaseMetrics

    init(timeout: Duration, coolDown: Duration = .seconds(1), metrics: DatabaseMetrics = .none) {
        self.timeout = timeout
        self.coolDown = coolDown
        self.metrics = metrics
    }

    func run<R: Sendable>(timeout limit: Duration? = nil, _ operation: @escaping @Sendable (Lease) async throws -> R) async throws -> R {
        guard !breaker.isOpen() else {
            metrics.count(.refused)
            throw ServiceError.databaseUnavailable.caused(by: "the breaker is open after the database was unreachable")
        }
        let limit = limit ?? timeout
        let started = DispatchTime.now().uptimeNanoseconds
        let lease = Lease(clock: lastLease, inUse: metrics.inUse)
        do {
            let result = try await withThrowingTaskGroup(of: R.self) { group in
                group.addTask { try await operation(lease) }
                group.addTask {
                    try await Deadline.wait(limit)
                    lease.abandon()
                    throw Timeout()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            metrics.count(.ok)
            return result
        } catch {
            let verdict = Self.classify(error, leased: lease.wasLeased || lastLease.value > started)
            if let outcome = verdict.outcome { metrics.count(outcome) }
            if verdict.unreachable, breaker.open(for: coolDown) { metrics.breakerOpenings.increment() }
            throw verdict.error
        }
    }

    /// Whether calls are being refused after the database was unreachable.
    var isOpen: Bool { breaker.isOpen() }

    /// Readiness: `SELECT 1` answered within a second. A busy pool still counts as reachable.
    func isReachable(_ ping: @escaping @Sendable (Lease) async throws -> Void) async -> Bool {
        do {
            try await run(timeout: .seconds(1), ping)
            return true
        } catch let error as ServiceError where error.code == .databaseUnavailable {
            return !breaker.isOpen()
        } catch {
            return true
        }
    }

    /// What the client sees (with the original error as its logged cause), whether the database
    /// itself looks unreachable (breaker) rather than one statement being slow or blocked, and how
    /// the call is counted (`nil`: cancelled by its caller, not the database's doing).
    struct Verdict {
        var error: any Error
        var unreachable = false
        var outcome: DatabaseMetrics.Outcome?
    }

    static func classify(_ error: any Error, leased: Bool) -> Verdict {
        var unavailable: ServiceError { ServiceError.databaseUnavailable.caused(by: String(reflecting: error)) }
        switch error {
        case let e as ServiceError:
            return Verdict(error: e, outcome: .error)
        case is Connection.Closed:
            // A connection that was closed under the call (the deadline's doing, or the server's).
            return Verdict(error: unavailable, unreachable: !leased, outcome: .unavailable)
        case let e as PSQLError where e.code == .server:
            let state = e.serverInfo?[.sqlState] ?? ""
            if slowStates.contains(state) { return Verdict(error: unavailable, outcome: .timeout) }
            // Text Postgres cannot store (U+0000, invalid encoding) that slipped past the parsers.
            if state == "22021" || state == "22P05" {
                return Verdict(error: ServiceError.malformed("Text contains a character that cannot be stored"), outcome: .error)
            }
            if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" {
                return Verdict(error: unavailable, unreachable: true, outcome: .unavailable)
            }
            return Verdict(error: e, outcome: .error)
        case let e as PSQLError:
            // A leased connection that turns out dead (an idle one reset after a restart) is that
            // connection's fault; failing to get one at all is the database's.
            let unreachable = !leased && e.code != .queryCancelled && e.code != .clientClosedConnection
            return Verdict(error: unavailable, unreachable: unreachable, outcome: .unavailable)
        case is Timeout:
            // A stuck connection is that connection's fault, a pool that served others meanwhile is
            // busy; no connection for anyone is the database's.
            let cause = "no answer within the call's deadline" + (leased ? "" : " (no connection could be had)")
            return Verdict(error: ServiceError.databaseUnavailable.caused(by: cause), unreachable: !leased, outcome: .timeout)
        case is CancellationError:
            return Verdict(error: error)
        default:
            return Verdict(error: error, outcome: .error)
        }
    }

    /// Statement, lock and idle-transaction timeouts, serialization failures and deadlocks: one
    /// request's bad luck, not an outage.
    static let slowStates: Set<String> = ["57014", "55P03", "25P03", "40001", "40P01"]
}

/// A sleep on an event loop timer that is freed as soon as it is cancelled. `Task.sleep` on Linux
/// keeps its dispatch timer until the deadline even when cancelled, so one per database call held
/// memory in proportion to the call rate (seen with heaptrack as ~290k live timers after a warm-up).
enum Deadline {
    static func wait(_ duration: Duration) async throws {
        let state = Mutex<(continuation: CheckedContinuation<Void, any Error>?, timer: Scheduled<Void>?, cancelled: Bool)>((nil, nil, false))
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let nanos = duration.nanoseconds
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelledAlready = state.withLock { s in
                    if !s.cancelled { s.continuation = continuation }
                    return s.cancelled
                }
                if cancelledAlready { return continuation.resume(throwing: CancellationError()) }
                let timer = loop.scheduleTask(in: .nanoseconds(nanos)) { () -> Void in
                    let due = state.withLock { s in
                        defer { s.continuation = nil }
                        return s.continuation
                    }
                    due?.resume()
                }
                // A cancellation between storing the continuation and here found no timer to cancel.
                if state.withLock({ s in
                    s.timer = timer
                    return s.cancelled
                }) {
                    timer.cancel()
                }
            }
        } onCancel: {
            let (continuation, timer) = state.withLock { s in
                s.cancelled = true
                defer {
                    s.continuation = nil
                    s.timer = nil
                }
                return (s.continuation, s.timer)
            }
            timer?.cancel()
            continuation?.resume(throwing: CancellationError())
        }
    }
}

/// A monotonic time in nanoseconds, shared between calls.
final class Clock: Sendable {
    private let nanos = Atomic<UInt64>(0)
    var value: UInt64 { nanos.load(ordering: .relaxed) }
    func mark() { nanos.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }
}

/// The connection a guarded call holds, so the deadline can close it.
final class Lease: Sendable {
    private let clock: Clock
    private let inUse: Meter
    private let state = Mutex<(connection: PostgresConnection?, leased: Bool, abandoned: Bool)>((nil, false, false))

    init(clock: Clock, inUse: Meter) {
        self.clock = clock
        self.inUse = inUse
    }

    /// Called by the operation once it holds a connection. Past the deadline nobody waits for the
    /// call any more, so it ends here, and the pool gets the connection back unused.
    func hold(_ connection: PostgresConnection) throws -> Connection {
        clock.mark()
        let abandoned = state.withLock {
            $0.leased = true
            if !$0.abandoned { $0.connection = connection }
            return $0.abandoned
        }
        if abandoned { throw DatabaseGuard.Timeout() }
        inUse.increment()
        return Connection(connection)
    }

    /// Called by the operation when it gives the connection back (after `hold`, in a `defer`).
    func release() {
        state.withLock { $0.connection = nil }
        inUse.decrement()
    }

    var wasLeased: Bool { state.withLock { $0.leased } }

    func abandon() {
        let connection = state.withLock {
            $0.abandoned = true
            return $0.connection
        }
        connection?.close().whenComplete { _ in }
    }
}

/// When the last outage's cool-down ends, as monotonic nanoseconds; read on every call, so atomic.
final class Breaker: Sendable {
    private let openUntil = Atomic<UInt64>(0)

    func isOpen() -> Bool {
        DispatchTime.now().uptimeNanoseconds < openUntil.load(ordering: .relaxed)
    }

    /// Returns whether it was closed until now: an opening, rather than an outage going on.
    @discardableResult
    func open(for duration: Duration) -> Bool {
        let nanos = UInt64(max(0, duration.nanoseconds))
        let now = DispatchTime.now().uptimeNanoseconds
        return openUntil.exchange(now + nanos, ordering: .relaxed) <= now
    }
}
