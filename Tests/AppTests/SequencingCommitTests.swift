import Domain
import Foundation
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// Sequencing whose commit fails (`CommitFault`): the numbers it gave were never committed, so
/// neither the store's answer nor the leader's kept events may hold its rows.
@Suite struct SequencingCommitTests {
    private let logger = Logger(label: "test")

    private func insert(_ event: String, on conn: PostgresConnection) async throws {
        try await conn.query("SELECT set_config('app.tenant_id', 't', false)", logger: logger)
        try await conn.query("INSERT INTO outbox (tenant_id, event, data) VALUES ('t', \(event), '{}')", logger: logger)
    }

    private func withStore(_ body: @escaping @Sendable (String, PostgresClient, PostgresEventStore) async throws -> Void) async throws {
        let url = try await TestSupport.freshDatabase()
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            _ = try await Migrator(client: client, logger: logger).run()
            try await body(url, client, PostgresEventStore(database: PostgresDatabase(client: client, logger: logger)))
        }
    }

    @Test func aRoundWhoseCommitFailsAnswersNoRows() async throws {
        try await withStore { url, client, store in
            try await client.withConnection { try await insert("doomed", on: $0) }
            try await CommitFault.install(on: url)
            await #expect(throws: (any Error).self, "the refused commit is the round's failure") {
                try await store.sequenceEvents(limit: 100)
            }
            #expect(try await store.newestSequence() == 0, "nothing was numbered")
            #expect(try await CommitFault.refusals(on: url) >= 1, "the commit was tried and refused")
            try await CommitFault.remove(on: url)
            let retried = try await store.sequenceEvents(limit: 100)
            #expect(retried.newest == 1 && retried.events.map(\.event) == ["doomed"])
        }
    }

    /// B commits while A (inserted first) has not: the leader's round numbers B 1, and its commit is
    /// refused. Once A commits, the next round numbers A 1. Its notice, which may come before
    /// its rows, must not make the kept events show B at 1.
    @Test func theLeaderKeepsNoRowOfARoundWhoseCommitFailed() async throws {
        try await withStore { url, client, store in
            let feed = EventFeed()
            let capture = LogCapture()
            let notifier = Notifier(store: store, feed: feed, sweep: .seconds(3600), batch: 1, logger: capture.logger())
            let hooks = notifier.hooks(leaderKey: nil)
            try await client.withConnection { early in
                try await early.query("BEGIN", logger: logger)
                try await insert("A", on: early)
                try await withThrowingTaskGroup(of: Void.self) { leading in
                    leading.addTask { try await notifier.run() }
                    notifier.migrated.open()
                    hooks.leadership(true)
                    var wakes = feed.follow().makeAsyncIterator()
                    #expect(await wakes.next() == 0, "the leader read the newest sequence")
                    try await CommitFault.install(on: url)
                    try await client.withConnection { try await insert("B", on: $0) }
                    hooks.outbox()
                    // The refused round has answered: its failure is logged once the store's call returned.
                    #expect(
                        try await eventually(10) { capture.lines.contains { $0.message == "events could not be sequenced" } },
                        "the leader's round failed on the refused commit"
                    )
                    #expect(try await CommitFault.refusals(on: url) >= 1)
                    leading.cancelAll()
                }
                try await CommitFault.remove(on: url)
                try await early.query("COMMIT", logger: logger)
            }
            let next = try await store.sequenceEvents(limit: 1)
            #expect(next.events.map(\.event) == ["A"] && next.newest == 1, "1 is A's number")
            feed.publish(next.newest)
            let kept = feed.recent(after: 0, limit: 10)
            #expect(kept == nil || kept?.map(\.event) == ["A"], "kept: \(kept?.map(\.event) ?? [])")
            feed.stage(next.events)
            #expect(feed.recent(after: 0, limit: 10)?.map(\.event) == ["A"])
        }
    }
}
