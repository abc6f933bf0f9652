import Foundation
import Infra
import Logging
import PostgresNIO
import Testing

@Suite struct MigratorTests {
    /// Replicas start together: concurrent runs serialize on the advisory lock and apply each
    /// migration once; a later run has nothing left to do.
    @Test func concurrentRunsApplyEachMigrationOnce() async throws {
        guard let url = ProcessInfo.processInfo.environment["AMS_TEST_DATABASE_URL"] else {
            Issue.record("AMS_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh")
            return
        }
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let migrator = Migrator(client: client, logger: Logger(label: "test"))
            async let first = migrator.run()
            async let second = migrator.run()
            let applied = try await first + second
            #expect(applied.count == Set(applied).count)
            #expect(try await migrator.run().isEmpty)
            var versions: [Int] = []
            for try await v in try await client.query("SELECT version FROM schema_migrations ORDER BY version").decode(Int.self) {
                versions.append(v)
            }
            #expect(versions == Migration.all.map(\.version))
        }
    }

    @Test func databaseURLsAreParsedAndBadOnesRefused() throws {
        let config = try PostgresClient.Configuration(url: "postgres://u:p%40ss@127.0.0.1:5433/db")
        #expect(config.host == "127.0.0.1" && config.port == 5433)
        #expect(config.username == "u" && config.password == "p@ss" && config.database == "db")
        #expect(throws: ConfigurationError.self) { try PostgresClient.Configuration(url: "mysql://u@h/db") }
        #expect(throws: ConfigurationError.self) { try PostgresClient.Configuration(url: "postgres://h/db") }
    }
}
