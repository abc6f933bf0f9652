import Foundation
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// A claim moves idle endpoints past what they do not want, but never waits for one another
/// session holds (another replica's claim, the purge, an attempt being recorded): it skips it.
@Suite struct WebhookClaimLockTests {
    private static let logger = Logger(label: "test")

    @Test func aClaimSkipsAnEndpointAnotherSessionHolds() async throws {
        let owner = try await TestSupport.freshDatabase()
        try await Migrator.run(url: owner, logger: Self.logger)
        _ = try await asSuperuser(owner) { conn in
            for statement: PostgresQuery in [
                "INSERT INTO tenants (tenant_id, tier) VALUES ('a', 'free'), ('b', 'free')",
                """
                INSERT INTO webhooks (tenant_id, id, url, events, secret, delivered) VALUES
                    ('a', '00000000-0000-0000-0000-00000000000a', 'http://example.com', '{agent_deleted}', 's', 0),
                    ('b', '00000000-0000-0000-0000-00000000000b', 'http://example.com', '{*}', 's', 0)
                """,
                """
                INSERT INTO outbox (tenant_id, event, data, sequence) VALUES
                    ('a', 'agent_created', '{}', 1), ('b', 'agent_created', '{}', 2)
                """,
                "UPDATE outbox_counter SET last = 2",
            ] {
                try await conn.query(statement, logger: Self.logger)
            }
        }
        try await ServiceRoleTests.withClient(owner) { client in
            try await client.withConnection { holder in
                try await holder.query("BEGIN", logger: Self.logger)
                try await holder.query("SELECT set_config('app.tenant_id', 'a', true)", logger: Self.logger)
                try await holder.query("SELECT 1 FROM webhooks FOR UPDATE", logger: Self.logger)
                let claimed = try await client.withConnection { conn in
                    try await conn.query("SET lock_timeout = '2s'", logger: Self.logger)
                    var claimed: [String] = []
                    for try await tenant in try await conn.query("SELECT tenant_id FROM ams_claim_webhooks(10, '1 minute')", logger: Self.logger)
                        .decode(String.self)
                    {
                        claimed.append(tenant)
                    }
                    return claimed
                }
                #expect(claimed == ["b"], "the held endpoint was skipped, the other claimed")
                try await holder.query("COMMIT", logger: Self.logger)
            }
            _ = try await ServiceRoleTests.count(client, "SELECT count(*)::int FROM ams_claim_webhooks(10, '1 minute')")
        }
        let delivered = try await asSuperuser(owner) { conn in
            var delivered = -1
            for try await n in try await conn.query("SELECT delivered::int FROM webhooks WHERE tenant_id = 'a'", logger: Self.logger)
                .decode(Int.self)
            {
                delivered = n
            }
            return delivered
        }
        #expect(delivered == 1, "once free, the endpoint moved past the event it does not want")
    }
}
