import Foundation
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// An endpoint told it lost events up to a sequence moves past every one before it: so the purge
/// takes a run of sequences from the oldest, never an old event past a younger one that stays.
@Suite struct PurgeGapTests {
    private static let logger = Logger(label: "test")

    /// 2 is young; 3 is old (inserted early, committed after 2, so sequenced after it): 1 goes,
    /// 2 and 3 stay, and the disabled endpoint missed through 1 only, so it still gets 2 and 3.
    @Test func aLateCommittedOldEventIsNotPurgedPastAYoungerOne() async throws {
        let owner = try await TestSupport.freshDatabase()
        try await Migrator.run(url: owner, logger: Self.logger)
        _ = try await asSuperuser(owner) { conn in
            for statement: PostgresQuery in [
                "INSERT INTO tenants (tenant_id, tier) VALUES ('t', 'free')",
                """
                INSERT INTO webhooks (tenant_id, id, url, events, secret, status, delivered)
                VALUES ('t', '00000000-0000-0000-0000-000000000001', 'http://example.com', '{*}', 's', 'disabled', 0)
                """,
                """
                INSERT INTO outbox (tenant_id, event, data, sequence, created_at) VALUES
                    ('t', 'agent_created', '{}', 1, now() - interval '2 days'),
                    ('t', 'agent_updated', '{}', 2, now()),
                    ('t', 'agent_updated', '{}', 3, now() - interval '2 days')
                """,
                "UPDATE outbox_counter SET last = 3",
                "UPDATE outbox_sinks SET updated_at = now() - interval '2 days'",
            ] {
                try await conn.query(statement, logger: Self.logger)
            }
        }
        try await ServiceRoleTests.withClient(owner) { client in
            let purged = try await ServiceRoleTests.count(client, "SELECT ams_purge_outbox('1 day', 100)")
            #expect(purged == 1)
        }
        let (left, missed) = try await asSuperuser(owner) { conn in
            var left: [Int] = []
            for try await sequence in try await conn.query("SELECT sequence::int FROM outbox ORDER BY sequence", logger: Self.logger)
                .decode(Int.self)
            {
                left.append(sequence)
            }
            var missed = 0
            for try await through in try await conn.query("SELECT missed_through::int FROM webhooks", logger: Self.logger).decode(Int.self) {
                missed = through
            }
            return (left, missed)
        }
        #expect(left == [2, 3], "the purge took only the oldest run")
        #expect(missed == 1 && left.allSatisfy { $0 > missed }, "no event the endpoint is told it missed still exists: \(missed)")
    }
}
