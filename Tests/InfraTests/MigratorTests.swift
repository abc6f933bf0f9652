import Foundation
import Infra
import Logging
import PostgresNIO
import Synchronization
import Testing

@Suite struct MigratorTests {
    /// On a database of its own, so the migrations really run. Replicas start together: concurrent
    /// runs serialize on the advisory lock and apply each migration once; a later run has nothing left to do.
    @Test func concurrentRunsOnAFreshDatabaseApplyEachMigrationOnce() async throws {
        let url = try await Self.freshDatabase()
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let migrator = Migrator(client: client, logger: Logger(label: "test"))
            async let first = migrator.run()
            async let second = migrator.run()
            let applied = try await first + second
            #expect(applied.sorted() == Migration.all.map(\.version))
            #expect(try await migrator.run().isEmpty)
            var versions: [Int] = []
            for try await v in try await client.query("SELECT version FROM schema_migrations ORDER BY version").decode(Int.self) {
                versions.append(v)
            }
            #expect(versions == Migration.all.map(\.version))
            var functions: [String] = []
            for try await name in try await client.query("SELECT proname FROM pg_proc WHERE proname LIKE 'ams_%' ORDER BY proname").decode(
                String.self
            ) {
                functions.append(name)
            }
            // One function per name: the subject files retire migration 2's writes, the first sequencer and the history's event trigger.
            #expect(
                functions == [
                    "ams_agent", "ams_bump_revision", "ams_change_notice", "ams_claim_revalidations", "ams_claim_webhooks",
                    "ams_count_agents", "ams_create_agent", "ams_create_agents", "ams_delete_agent", "ams_finish_tasks",
                    "ams_outbox_after", "ams_outbox_notify", "ams_purge_deleted", "ams_purge_outbox", "ams_purge_tasks",
                    "ams_purge_webhook_deliveries", "ams_record", "ams_record_change", "ams_record_revalidations", "ams_restore_agent",
                    "ams_sequence_outbox_events", "ams_set_agent_status", "ams_set_validation", "ams_settle_revalidations",
                    "ams_start_tasks", "ams_task_progress", "ams_task_result", "ams_template_event", "ams_tenants_using_tools",
                    "ams_update_agent", "ams_update_agents", "ams_webhook_attempt", "ams_webhooks_next_due",
                ]
            )
            // PL/pgSQL keeps its plans per session; a `LANGUAGE sql` helper is planned on every call.
            var sqlLanguage: [String] = []
            for try await name in try await client.query(
                """
                SELECT p.proname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                WHERE p.proname LIKE 'ams_%' AND l.lanname <> 'plpgsql'
                """
            ).decode(String.self) {
                sqlLanguage.append(name)
            }
            #expect(sqlLanguage.isEmpty, "planned on every call: \(sqlLanguage)")
            try await Self.expectHOTUpdates(client)
        }
        try await Self.drop(url)
    }

    /// Migration 2 on a database already in use: the counter is backfilled from the live agents;
    /// creates count themselves, a trigger counts deletes and restores (whoever makes them).
    @Test func theAgentCounterIsBackfilledAndKeptExact() async throws {
        let url = try await Self.freshDatabase()
        let logger = Logger(label: "test")
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            #expect(try await Migrator.run(url: url, migrations: Migration.all.filter { $0.version == 1 }, logger: logger) == [1])
            func write(_ tenant: String, _ sql: PostgresQuery) async throws {
                try await client.withTransaction(logger: logger) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                    try await conn.query(sql, logger: logger)
                }
            }
            func oldInsert(_ tenant: String, _ name: String, deleted: Bool = false) async throws {
                try await write(
                    tenant,
                    """
                    INSERT INTO agents (id, tenant_id, name, type, status, version, config, validation,
                                        created_at, updated_at, created_by, updated_by, deleted_at)
                    VALUES (gen_random_uuid(), \(tenant), \(name), 'conversational', 'draft', 1, '{"tags":["old"]}', '{}', now(), now(), 'u', 'u',
                            CASE WHEN \(deleted) THEN now() END)
                    """
                )
            }
            for tenant in ["a", "b"] {
                try await write(tenant, "INSERT INTO tenants (tenant_id, tier) VALUES (\(tenant), 'free')")
            }
            try await oldInsert("a", "one")
            try await oldInsert("a", "two")
            try await oldInsert("a", "gone", deleted: true)
            try await oldInsert("b", "one", deleted: true)

            #expect(try await Migrator.run(url: url, logger: logger) == Migration.all.map(\.version).filter { $0 > 1 })
            func counts() async throws -> [Int] {
                var result: [Int] = []
                for tenant in ["a", "b"] {
                    try await client.withTransaction(logger: logger) { conn in
                        try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                        for try await n in try await conn.query("SELECT agent_count FROM tenants", logger: logger).decode(Int.self) {
                            result.append(n)
                        }
                    }
                }
                return result
            }
            #expect(try await counts() == [2, 0])
            // Creates count themselves (migration 5); deletes and restores are counted by the trigger.
            try await write(
                "b",
                """
                SELECT ams_create_agent('b', 'free', '{"free": 10}'::jsonb, gen_random_uuid(), 'three', 'conversational', 'draft',
                    '{}'::jsonb, '{}'::jsonb, now(), 'u', '[]'::jsonb, NULL, '[]'::jsonb, NULL, NULL::int)
                """
            )
            try await write("a", "UPDATE agents SET deleted_at = now() WHERE tenant_id = 'a' AND name = 'one'")
            try await write("a", "UPDATE agents SET deleted_at = NULL WHERE tenant_id = 'a' AND name = 'gone'")
            try await write("a", "UPDATE agents SET version = 2 WHERE tenant_id = 'a' AND name = 'two'")
            #expect(try await counts() == [2, 1])
            // A create that would not count itself (migration 2's) is refused loudly.
            do {
                try await write(
                    "b",
                    """
                    SELECT ams_create_agent('b', 'free', '{"free": 10}'::jsonb, gen_random_uuid(), 'old', 'conversational', 'draft',
                        '{}'::jsonb, '{}'::jsonb, now(), 'u')
                    """
                )
                Issue.record("migration 2's create still exists")
            } catch let error as PostgresTransactionError {
                #expect((error.closureError as? PSQLError)?.serverInfo?[.sqlState] == "42883", "undefined function")
            }
            // Rows written before migration 4 are found by their tags.
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', 'a', true)", logger: logger)
                var names: [String] = []
                for try await name in try await conn.query(
                    "SELECT name FROM agents WHERE tags ? 'old' ORDER BY name",
                    logger: logger
                ).decode(String.self) {
                    names.append(name)
                }
                #expect(names == ["gone", "one", "two"])
            }
        }
        try await Self.drop(url)
    }

    @Test func databaseURLsAreParsedAndBadOnesRefused() throws {
        let config = try PostgresClient.Configuration(url: "postgres://u:p%40ss@127.0.0.1:5433/db")
        #expect(config.host == "127.0.0.1" && config.port == 5433)
        #expect(config.username == "u" && config.password == "p@ss" && config.database == "db")
        // An escape decodes once: `%2540` is the text `%40`, not `@`.
        #expect(try PostgresClient.Configuration(url: "postgres://u:p%2540ss@127.0.0.1/db").password == "p%40ss")
        #expect(throws: ConfigurationError.self) { try PostgresClient.Configuration(url: "mysql://u@h/db") }
        #expect(throws: ConfigurationError.self) { try PostgresClient.Configuration(url: "postgres://h/db") }
        #expect(throws: ConfigurationError.self) { try PostgresClient.Configuration(url: "postgres://u@db.internal/db?sslmode=sometimes") }
    }

    /// A password must not cross a network in the clear unless the URL asks for it.
    @Test func tlsIsRequiredForRemoteHostsByDefault() throws {
        #expect(try PostgresConnection.Configuration(url: "postgres://u:p@db.internal/db").tls.isEnforced)
        #expect(try !PostgresConnection.Configuration(url: "postgres://u:p@127.0.0.1/db").tls.isAllowed)
        #expect(try !PostgresConnection.Configuration(url: "postgres://u:p@db.internal/db?sslmode=prefer").tls.isEnforced)
        #expect(try PostgresConnection.Configuration(url: "postgres://u:p@db.internal/db?sslmode=prefer").tls.isAllowed)
        #expect(try !PostgresConnection.Configuration(url: "postgres://u:p@db.internal/db?sslmode=disable").tls.isAllowed)
    }

    /// Server-side timeouts end what the client cannot cancel.
    @Test func connectionsCarryTheStatementLockAndIdleTimeouts() throws {
        let config = try PostgresClient.Configuration(url: "postgres://u:p@127.0.0.1/db", statementTimeout: .milliseconds(2500))
        let parameters = Dictionary(uniqueKeysWithValues: config.options.additionalStartupParameters)
        #expect(parameters == ["statement_timeout": "2500", "lock_timeout": "2500", "idle_in_transaction_session_timeout": "2500"])
    }

    /// Postgres itself ends what runs too long, so no request waits on a query it cannot cancel.
    @Test func theTimeoutsReachPostgresAndEndSlowStatements() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["AMS_TEST_DATABASE_URL"], "run the tests with scripts/test.sh")
        let client = PostgresClient(configuration: try .init(url: url, statementTimeout: .milliseconds(1500)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            for setting in ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"] {
                for try await value in try await client.query(PostgresQuery(unsafeSQL: "SHOW \(setting)")).decode(String.self) {
                    #expect(value == "1500ms", "\(setting)")
                }
            }
            do {
                for try await _ in try await client.query("SELECT pg_sleep(5)") {}
                Issue.record("a 5 s statement was not ended")
            } catch let error as PSQLError {
                #expect(error.serverInfo?[.sqlState] == "57014")
            }
        }
    }

    /// A PATCH that leaves name and tags alone touches no index (a HOT update); one that changes the
    /// tags cannot be. Counted in the writing transaction's own statistics.
    static func expectHOTUpdates(_ client: PostgresClient) async throws {
        let logger = Logger(label: "test")
        let id = UUID()
        func config(_ description: String, tags: String) -> String {
            #"{"name":"hot","description":"\#(description)","tags":\#(tags),"llm_config":{"model":"m"}}"#
        }
        _ = try await client.withTransaction(logger: logger) { conn in
            try await conn.query(
                """
                SELECT ams_create_agent('hot', 'free', '{"free": 10}'::jsonb, \(id), 'hot', 'conversational', 'draft',
                    \(config("one", tags: #"["a"]"#))::jsonb, '{}'::jsonb, now(), 'u', '[]'::jsonb, NULL, '[]'::jsonb, NULL, NULL::int)
                """,
                logger: logger
            )
        }
        func update(_ revision: Int, _ config: String) async throws -> Int {
            try await client.withTransaction(logger: logger) { conn in
                // Postgres 15 may still hold a previous transaction's counts unflushed: take the difference.
                func counts() async throws -> (all: Int, hot: Int) {
                    for try await (all, hot) in try await conn.query(
                        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'agents'",
                        logger: logger
                    ).decode((Int, Int).self) {
                        return (all, hot)
                    }
                    return (0, 0)
                }
                let before = try await counts()
                try await conn.query(
                    """
                    SELECT ams_update_agent('hot', \(id), \(revision)::int, 'hot', 'conversational', \(config)::jsonb, '{}'::jsonb,
                        now(), 'u', '[]'::jsonb, NULL, 'updated', '[]'::jsonb)
                    """,
                    logger: logger
                )
                let after = try await counts()
                #expect(after.all - before.all == 1)
                return after.hot - before.hot
            }
        }
        #expect(try await update(1, config("two", tags: #"["a"]"#)) == 1, "a new description is a HOT update")
        #expect(try await update(2, config("two", tags: #"["b"]"#)) == 0, "new tags must reach the tag index")
        // The tag index answers with the new tags only, and pages keep room for the next row versions.
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("SET LOCAL enable_seqscan = off", logger: logger)
            try await conn.query("SELECT set_config('app.tenant_id', 'hot', true)", logger: logger)
            var found: [String] = []
            for tag in ["a", "b"] {
                for try await name in try await conn.query(
                    "SELECT name FROM agents WHERE tenant_id = 'hot' AND deleted_at IS NULL AND tags ? \(tag)",
                    logger: logger
                ).decode(String.self) {
                    found.append(tag + ":" + name)
                }
            }
            #expect(found == ["b:hot"])
            var options: [String] = []
            for try await option in try await conn.query(
                "SELECT unnest(reloptions) FROM pg_class WHERE relname = 'agents'",
                logger: logger
            ).decode(String.self) {
                options.append(option)
            }
            #expect(options.contains("fillfactor=80"))
        }
    }

    /// Drops a database made during the run (a spare stays for the next run to make anew: a drop
    /// forces a checkpoint, which stalls the other suites' commits).
    static func drop(_ url: String) async throws {
        let admin = try #require(ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"])
        let name = try #require(URLComponents(string: url)?.path.dropFirst())
        guard !name.hasPrefix("ams_spare_") else { return }
        let client = PostgresClient(configuration: try .init(url: admin))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
        }
    }

    private static let spares = Atomic<Int>(0)

    static func freshDatabase() async throws -> String {
        let env = ProcessInfo.processInfo.environment
        let admin = try #require(env["AMS_TEST_ADMIN_URL"], "AMS_TEST_ADMIN_URL is not set: run the tests with scripts/test.sh")
        let base = try #require(env["AMS_TEST_DATABASE_URL"], "AMS_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh")
        // scripts/test.sh makes empty databases before the run: making one now writes the whole
        // template through the WAL while other suites run.
        if env["AMS_TEST_SPARE_DATABASES"] == "1" {
            let n = spares.add(1, ordering: .relaxed).newValue
            if n <= 5 {
                var parts = try #require(URLComponents(string: base))
                parts.path = "/ams_spare_infra_\(n)"
                return try #require(parts.string)
            }
        }
        let name = "ams_migrate_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let client = PostgresClient(configuration: try .init(url: admin))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // CREATE DATABASE copies template1 and fails while another session is copying it too
            // (55006, "being accessed by other users"); suites create databases in parallel.
            for attempt in 1... {
                do {
                    try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER ams"))
                    break
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55006" && attempt < 50 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        var parts = try #require(URLComponents(string: base))
        parts.path = "/" + name
        return try #require(parts.string)
    }
}
