import Domain
import PostgresNIO

/// Bounds every database call in time and turns connection trouble into AMS-502, so a dead
/// database makes requests fail fast with a clear error instead of hanging.
struct DatabaseGuard: Sendable {
    struct Timeout: Error {}

    let timeout: Duration

    func run<R: Sendable>(_ operation: @escaping @Sendable () async throws -> R) async throws -> R {
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
            throw Self.map(error)
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
