import Foundation
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// The purges run as their owner across tenants (`SECURITY DEFINER`), so the retention they take is
/// held to an hour at least: the service's role, asking for none, cannot empty every tenant's
/// finished tasks, deleted agents, events or delivery attempts.
@Suite struct PurgeFloorTests {
    private static let logger = Logger(label: "test")

    /// Each purge's function, and the table and column of the age it reads.
    private static let purges: [(function: String, table: String, column: String)] = [
        ("ams_purge_tasks", "tasks", "updated_at"),
        ("ams_purge_deleted", "agents", "deleted_at"),
        ("ams_purge_outbox", "outbox", "created_at"),
        ("ams_purge_webhook_deliveries", "webhook_deliveries", "attempted_at"),
    ]

    @Test func aRetentionBelowAnHourKeepsWhatIsYoungerThanAnHour() async throws {
        let owner = try await TestSupport.freshDatabase()
        try await ServiceRole.ensure()
        try await Migrator.run(url: owner, appRole: ServiceRole.name, logger: Self.logger)
        _ = try await asSuperuser(owner) { conn in
            for statement: PostgresQuery in [
                "INSERT INTO tenants (tenant_id, tier) VALUES ('t', 'free')",
                """
                INSERT INTO tasks (tenant_id, id, type, status, message) VALUES ('t', gen_random_uuid(), 'sync', 'completed', '{}')
                """,
                """
                INSERT INTO agents (id, tenant_id, name, type, status, version, config, validation, created_at, updated_at,
                    created_by, updated_by, deleted_at)
                VALUES (gen_random_uuid(), 't', 'Gone', 'conversational', 'active', 1, '{}', '{}', now(), now(), 'u', 'u', now())
                """,
                "INSERT INTO outbox (tenant_id, event, data, sequence) VALUES ('t', 'agent_created', '{}', 1)",
                "UPDATE outbox_counter SET last = 1",
                "UPDATE outbox_sinks SET updated_at = now() - interval '2 days'",
                """
                INSERT INTO webhooks (tenant_id, id, url, events, secret, status, delivered)
                VALUES ('t', '00000000-0000-0000-0000-000000000001', 'http://example.com', '{*}', 's', 'disabled', 1)
                """,
                """
                INSERT INTO webhook_deliveries (tenant_id, webhook_id, event_id, event, sequence, attempt, attempted_at, latency_ms)
                VALUES ('t', '00000000-0000-0000-0000-000000000001', gen_random_uuid(), 'agent_created', 1, 1, now(), 1)
                """,
            ] {
                try await conn.query(statement, logger: Self.logger)
            }
        }
        for (age, expected) in [("30 minutes", 0), ("2 hours", 1)] {
            _ = try await asSuperuser(owner) { conn in
                for purge in Self.purges {
                    try await conn.query(
                        "UPDATE \(unescaped: purge.table) SET \(unescaped: purge.column) = now() - \(age)::interval",
                        logger: Self.logger
                    )
                }
            }
            try await ServiceRoleTests.withClient(try ServiceRole.url(owner)) { client in
                for purge in Self.purges {
                    let purged = try await ServiceRoleTests.count(client, "SELECT \(unescaped: purge.function)('0', 100)")
                    #expect(purged == expected, "\(purge.function) with no retention, on a row \(age) old")
                }
            }
        }
    }
}
