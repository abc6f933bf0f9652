import Dispatch
import Domain
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
    /// Connections the pool may open: a call that could not get one while fewer were in use means
    /// connections cannot be made, not that every one is busy.
    let poolSize: Int
    private let breaker = Breaker()
    private let inUse = Gauge()

    init(timeout: Duration, coolDown: Duration = .seconds(1), poolSize: Int = 20) {
        self.timeout = timeout
        self.coolDown = coolDown
        self.poolSize = poolSize
    }

    func run<R: Sendable>(_ operation: @escaping @Sendable (Lease) async throws -> R) async throws -> R {
        guard !breaker.isOpen() else { throw ServiceError.databaseUnavailable }
        let lease = Lease(gauge: inUse)
        do {
            return try await withThrowingTaskGroup(of: R.self) { group in
                group.addTask { try await operation(lease) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    lease.abandon()
                    throw Timeout()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            let (mapped, unreachable) = Self.classify(error, leased: lease.wasLeased || inUse.value >= poolSize)
            if unreachable { breaker.open(for: coolDown) }
            throw mapped
        }
    }

    /// What the client sees, and whether the database itself looks unreachable (breaker) rather
    /// than one statement being slow or blocked.
    static func classify(_ error: any Error, leased: Bool) -> (any Error, unreachable: Bool) {
        switch error {
        case let e as ServiceError:
            return (e, false)
        case let e as PostgresTransactionError:
            if let inner = e.closureError { return classify(inner, leased: leased) }
            if let begin = e.beginError { return classify(begin, leased: leased) }
            if let commit = e.commitError { return classify(commit, leased: leased) }
            return (ServiceError.databaseUnavailable, true)
        case let e as PSQLError where e.code == .server:
            let state = e.serverInfo?[.sqlState] ?? ""
            if slowStates.contains(state) { return (ServiceError.databaseUnavailable, false) }
            if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" { return (ServiceError.databaseUnavailable, true) }
            return (e, false)
        case let e as PSQLError:
            return (ServiceError.databaseUnavailable, e.code != .queryCancelled && e.code != .clientClosedConnection)
        case is Timeout:
            // A stuck connection is that connection's fault, a full pool is load (a lock wait, say);
            // no connection to be had from a pool with room is the database's.
            return (ServiceError.databaseUnavailable, !leased)
        case is CancellationError:
            return (error, false)
        default:
            return (error, false)
        }
    }

    /// Statement, lock and idle-transaction timeouts, serialization failures and deadlocks: one
    /// request's bad luck, not an outage.
    static let slowStates: Set<String> = ["57014", "55P03", "25P03", "40001", "40P01"]
}

/// Connections held by guarded calls right now.
final class Gauge: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ delta: Int) { count.add(delta, ordering: .relaxed) }
}

/// The connection a guarded call holds, so the deadline can close it.
final class Lease: Sendable {
    private let gauge: Gauge
    private let state = Mutex<(connection: PostgresConnection?, leased: Bool, abandoned: Bool)>((nil, false, false))

    init(gauge: Gauge) { self.gauge = gauge }

    /// Called by the operation once it holds a connection; closes it at once if the deadline passed.
    func hold(_ connection: PostgresConnection) {
        gauge.add(1)
        let abandoned = state.withLock {
            $0.connection = connection
            $0.leased = true
            return $0.abandoned
        }
        if abandoned { connection.close().whenComplete { _ in } }
    }

    func release() {
        gauge.add(-1)
        state.withLock { $0.connection = nil }
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

    func open(for duration: Duration) {
        let nanos = UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
        openUntil.store(DispatchTime.now().uptimeNanoseconds + nanos, ordering: .relaxed)
    }
}
