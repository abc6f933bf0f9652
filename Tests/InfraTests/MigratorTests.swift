import Foundation
import Infra
import Logging
import PostgresNIO
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
            for try await name in try await client.query("SELECT proname FROM pg_proc WHERE proname LIKE 'ams_%' ORDER BY proname").decode(String.self) {
                functions.append(name)
            }
            #expect(functions == ["ams_change_notice", "ams_create_agent", "ams_delete_agent", "ams_update_agent"])
        }
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

    static func freshDatabase() async throws -> String {
        let env = ProcessInfo.processInfo.environment
        let admin = try #require(env["AMS_TEST_ADMIN_URL"], "AMS_TEST_ADMIN_URL is not set: run the tests with scripts/test.sh")
        let base = try #require(env["AMS_TEST_DATABASE_URL"], "AMS_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh")
        let name = "ams_migrate_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let client = PostgresClient(configuration: try .init(url: admin))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER ams"))
        }
        var parts = try #require(URLComponents(string: base))
        parts.path = "/" + name
        return try #require(parts.string)
    }
}
