import Domain
import Foundation
import Infra
import Logging
import PostgresNIO
import Synchronization
import Testing

@Suite struct EventStoreTests {
    /// A later insert that commits first is sequenced first: sequences follow commits, so a reader
    /// that is past a number never misses an event committed after it read.
    @Test func sequencesFollowCommitOrder() async throws {
        let url = try await MigratorTests.freshDatabase()
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let logger = Logger(label: "test")
            _ = try await Migrator(client: client, logger: logger).run()
            let store = PostgresEventStore(database: PostgresDatabase(client: client, logger: logger))
            @Sendable func insert(_ event: String, on conn: PostgresConnection) async throws {
                try await conn.query("SELECT set_config('app.tenant_id', 't', true)", logger: logger)
                try await conn.query("INSERT INTO outbox (tenant_id, event, data) VALUES ('t', \(event), '{}')", logger: logger)
            }
            #expect(try await store.sequenceEvents(limit: 100).newest == 0)
            try await client.withConnection { early in
                try await early.query("BEGIN", logger: logger)
                try await insert("early", on: early)
                try await client.withConnection { late in
                    try await late.query("BEGIN", logger: logger)
                    try await insert("late", on: late)
                    try await late.query("COMMIT", logger: logger)
                }
                #expect(try await store.sequenceEvents(limit: 100).events.map(\.event) == ["late"], "the uncommitted insert waits")
                try await early.query("COMMIT", logger: logger)
            }
            let second = try await store.sequenceEvents(limit: 1)
            #expect(second.newest == 2 && second.events.map(\.sequence) == [2] && second.events.first?.event == "early")
            let none = try await store.sequenceEvents(limit: 100)
            #expect(none.newest == 2 && none.events.isEmpty, "nothing is sequenced twice")
            let events = try await store.events(after: 0, limit: 10)
            #expect(events.map(\.event) == ["late", "early"])
            #expect(events.map(\.sequence) == [1, 2])
            #expect(try await store.events(after: 1, limit: 10).map(\.event) == ["early"])

            // A shared sink moves its position only past what it delivered without an error.
            struct Refused: Error {}
            await #expect(throws: Refused.self) { try await store.deliver(sink: "s", limit: 1) { _ in throw Refused() } }
            #expect(try await store.delivered(sink: "s") == 0)
            let handed = Mutex<[[Int64]]>([])
            @Sendable func take(_ events: [ChangeEvent]) { handed.withLock { $0.append(events.map(\.sequence)) } }
            #expect(try await store.deliver(sink: "s", limit: 1) { take($0) } == 1)
            #expect(try await store.deliver(sink: "s", limit: 10) { take($0) } == 2)
            #expect(try await store.deliver(sink: "s", limit: 10) { take($0) } == 2)
            #expect(handed.withLock { $0 } == [[1], [2]], "each event once, and nothing when nothing is left")
            #expect(try await store.delivered(sink: "s") == 2)
        }
    }
}
