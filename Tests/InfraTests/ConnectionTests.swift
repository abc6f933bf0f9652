import Foundation
import Logging
import PostgresNIO
import Testing

@testable import Infra

/// A closed connection must fail what is asked of it: PostgresNIO's own `query` waits for ever
/// once NIO has removed the channel's handlers, which is how a `ROLLBACK` after a deadline hung.
@Suite struct ConnectionTests {
    let logger = Logger(label: "test")

    func connect() async throws -> PostgresConnection {
        let url = try #require(ProcessInfo.processInfo.environment["AMS_TEST_DATABASE_URL"], "run the tests with scripts/test.sh")
        return try await PostgresConnection.connect(configuration: try .init(url: url), id: 1, logger: logger)
    }

    @Test func aQueryOnAClosedConnectionFails() async throws {
        let raw = try await connect()
        try await raw.close()
        let conn = Connection(raw)
        let outcome = try await settled(within: .seconds(30)) {
            try await conn.query("SELECT 1", logger: logger)
        }
        #expect(outcome == .threw("Closed()"))
    }

    @Test func aTransactionWhoseConnectionClosesEndsWithTheBodysError() async throws {
        struct BodyFailed: Error {}
        let conn = Connection(try await connect())
        let outcome = try await settled(within: .seconds(30)) {
            try await conn.transaction(logger: logger) { tx in
                try await tx.query("SELECT 1", logger: logger)
                try await tx.close()
                throw BodyFailed()
            }
        }
        #expect(outcome == .threw("BodyFailed()"))
    }

    @Test func aQueryInFlightFailsWhenItsConnectionIsClosed() async throws {
        let conn = Connection(try await connect())
        let outcome = try await settled(within: .seconds(30)) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for try await _ in try await conn.query("SELECT pg_sleep(30)", logger: logger) {} }
                try await Task.sleep(for: .milliseconds(200))
                try await conn.close()
                try await group.next()
            }
        }
        guard case .threw = outcome else {
            Issue.record("the query outlived its connection: \(outcome)")
            return
        }
    }

    @Test func aLeaseTakenAfterItsDeadlineIsRefusedAndTheConnectionStaysOpen() async throws {
        let raw = try await connect()
        let lease = Lease(clock: Infra.Clock(), inUse: DatabaseMetrics.none.inUse)
        lease.abandon()
        #expect(throws: DatabaseGuard.Timeout.self) { try lease.hold(raw) }
        #expect(!raw.isClosed)
        #expect(lease.wasLeased)
        try await raw.close()
    }

    @Test func aLeaseAbandonedWhileHeldClosesItsConnection() async throws {
        let raw = try await connect()
        let lease = Lease(clock: Infra.Clock(), inUse: DatabaseMetrics.none.inUse)
        let conn = try lease.hold(raw)
        lease.abandon()
        try await raw.closeFuture.get()
        let outcome = try await settled(within: .seconds(30)) { try await conn.query("SELECT 1", logger: logger) }
        #expect(outcome == .threw("Closed()"))
        lease.release()
    }
}

enum Outcome: Equatable {
    case returned
    case threw(String)
    case stillWaiting
}

/// How `body` ended within `limit` (generous: the run is loaded, and a hang is what is caught). A body that never ends is left behind (and reported) rather
/// than hanging the test run, which a task group, waiting for its children, would do.
func settled(within limit: Duration, _ body: @escaping @Sendable () async throws -> some Sendable) async throws -> Outcome {
    let stream = AsyncStream<Outcome>.makeStream()
    let work = Task {
        do {
            _ = try await body()
            stream.continuation.yield(.returned)
        } catch {
            stream.continuation.yield(.threw(String(describing: error)))
        }
    }
    let timer = Task {
        try? await Task.sleep(for: limit)
        stream.continuation.yield(.stillWaiting)
    }
    defer { timer.cancel() }
    for await outcome in stream.stream {
        if outcome == .stillWaiting { work.cancel() }
        return outcome
    }
    return .stillWaiting
}
