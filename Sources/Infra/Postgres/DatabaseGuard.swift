import Dispatch
import Domain
import PostgresNIO
import Synchronization

/// Bounds every database call in time and turns connection trouble into AMS-502. After a call
/// finds the database unavailable, calls fail at once for `coolDown` (the pool would only make them
/// wait), so a dead database answers fast instead of piling up requests; then calls try again.
struct DatabaseGuard: Sendable {
    struct Timeout: Error {}

    let timeout: Duration
    let coolDown: Duration
    private let breaker = Breaker()

    init(timeout: Duration, coolDown: Duration = .seconds(1)) {
        self.timeout = timeout
        self.coolDown = coolDown
    }

    func run<R: Sendable>(_ operation: @escaping @Sendable () async throws -> R) async throws -> R {
        guard !breaker.isOpen() else { throw ServiceError.databaseUnavailable }
        do {
            return try await withThrowingTaskGroup(of: R.self) { group in
                group.addTask { try await operation() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw Timeout()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            let mapped = Self.map(error)
            if let failure = mapped as? ServiceError, failure.code == .databaseUnavailable {
                breaker.open(for: coolDown)
            }
            throw mapped
        }
    }

    static func map(_ error: any Error) -> any Error {
        switch error {
        case let e as ServiceError:
            return e
        case let e as PostgresTransactionError:
            if let inner = e.closureError { return map(inner) }
            return ServiceError.databaseUnavailable
        case let e as PSQLError:
            return e.code == .server ? e : ServiceError.databaseUnavailable
        case is Timeout:
            return ServiceError.databaseUnavailable
        default:
            return error
        }
    }
}

/// When the last failure's cool-down ends, as monotonic nanoseconds; read on every call, so atomic.
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
