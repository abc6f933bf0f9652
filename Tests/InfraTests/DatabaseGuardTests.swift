import Domain
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import Infra

@Suite struct DatabaseGuardTests {
    /// A call that finds every connection busy (others get theirs meanwhile) is load, not an
    /// outage: it answers AMS-502, but the breaker stays closed for everyone else.
    @Test func aBusyPoolDoesNotOpenTheBreaker() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["AMS_TEST_DATABASE_URL"], "run the tests with scripts/test.sh")
        var config = try PostgresClient.Configuration(url: url)
        config.options.maximumConnections = 1
        let client = PostgresClient(configuration: config)
        // Generous deadlines for the calls around the one under test: a loaded CI machine delays
        // them, and only the middle call's 1 s deadline matters here.
        let guardrail = DatabaseGuard(timeout: .seconds(15))
        @Sendable func hold(for duration: Duration, until released: AsyncStream<Void>? = nil) async throws {
            try await guardrail.run { lease in
                try await client.withConnection { conn in
                    _ = try lease.hold(conn)
                    defer { lease.release() }
                    if let released { for await _ in released { break } } else { try await Task.sleep(for: duration) }
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // The one connection is opened first: under a loaded test run, opening it can take
            // longer than the deadlines below, and this test is about waiting for a busy one.
            try await guardrail.run(timeout: .seconds(30)) { lease in
                try await client.withConnection { conn in
                    _ = try lease.hold(conn)
                    lease.release()
                }
            }
            // The second call gets the connection while the middle one waits: the first lets it
            // go a moment after the middle one started, so the hand-over falls inside its wait
            // however slowly a loaded machine runs the steps before it.
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            async let first: Void = hold(for: .zero, until: released)
            try await Task.sleep(for: .milliseconds(100))
            async let second: Void = hold(for: .seconds(5))
            try await Task.sleep(for: .milliseconds(200))
            async let releasing: Void = {
                try? await Task.sleep(for: .milliseconds(300))
                release.yield()
                release.finish()
            }()
            // Waits for the one connection while the others take turns, and gives up after 3 s.
            await #expect(throws: ServiceError.databaseUnavailable) {
                try await guardrail.run(timeout: .seconds(3)) { lease in
                    try await client.withConnection { conn in
                        _ = try lease.hold(conn)
                        lease.release()
                    }
                }
            }
            // Right after: not refused by an open breaker, it waits its turn and is served.
            #expect(!guardrail.isOpen)
            try await guardrail.run { lease in
                try await client.withConnection { raw in
                    let conn = try lease.hold(raw)
                    defer { lease.release() }
                    for try await _ in try await conn.query("SELECT 1", logger: Logger(label: "test")) {}
                }
            }
            await releasing
            try await first
            try await second
        }
    }
}
