import Foundation
import Logging
import PostgresNIO
import Testing

@testable import Infra

@Suite struct SchemaDefinitionsTests {
    /// Every `ams_` function of a migrated database is the one its subject file defines, word for
    /// word, and no function is defined twice (overloads included).
    @Test func everyFunctionInTheDatabaseIsItsSubjectFilesDefinition() async throws {
        var source: [String: String] = [:]
        for statement in SchemaDefinitions.current.statements where statement.hasPrefix("CREATE OR REPLACE FUNCTION ") {
            let name = String(statement.dropFirst("CREATE OR REPLACE FUNCTION ".count).prefix { $0 != "(" })
            #expect(source[name] == nil, "\(name) is defined twice")
            source[name] = statement
        }
        #expect(source.count >= 25)
        let url = try await MigratorTests.freshDatabase()
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await Migrator(client: client, logger: Logger(label: "test")).run()
            var installed: [String: String] = [:]
            for try await (name, definition) in try await client.query(
                """
                SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname LIKE 'ams\\_%'
                """
            ).decode((String, String).self) {
                #expect(installed[name] == nil, "\(name) is overloaded in the database")
                let unqualified = definition.replacingOccurrences(of: "FUNCTION public.", with: "FUNCTION ")
                installed[name] = unqualified.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(installed.keys.sorted() == source.keys.sorted())
            for (name, definition) in source {
                #expect(installed[name] == definition, "\(name) differs from its subject file")
            }
        }
        try await MigratorTests.drop(url)
    }

    /// An older release leaves a newer one's definitions in place; the same release re-installs
    /// only when its files changed.
    @Test func anOlderReleaseNeverOverwritesANewerOne() async throws {
        let url = try await MigratorTests.freshDatabase()
        let logger = Logger(label: "test")
        let conn = Connection(try await PostgresConnection.connect(configuration: try .init(url: url), id: 1, logger: logger))
        func probe() async throws -> Int {
            var value = 0
            for try await n in try await conn.query("SELECT ams_probe()", logger: logger).decode(Int.self) { value = n }
            return value
        }
        func definitions(_ release: Int, probe: Int) -> SchemaDefinitions {
            SchemaDefinitions(
                release: release,
                sources: [
                    "CREATE OR REPLACE FUNCTION ams_probe()\n RETURNS integer\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n"
                        + "    RETURN \(probe); -- a ; inside the body\nEND\n$function$;\n"
                ]
            )
        }
        do {
            try await Migrator.install(definitions(2, probe: 2), on: conn, logger: logger)
            #expect(try await probe() == 2)
            try await Migrator.install(definitions(1, probe: 1), on: conn, logger: logger)
            #expect(try await probe() == 2, "release 1 overwrote release 2")
            try await Migrator.install(definitions(2, probe: 3), on: conn, logger: logger)
            #expect(try await probe() == 3, "an edited file of the same release was not installed")
            try await Migrator.install(definitions(3, probe: 4), on: conn, logger: logger)
            #expect(try await probe() == 4)
            var releases: [Int] = []
            for try await n in try await conn.query("SELECT release FROM schema_definitions", logger: logger).decode(Int.self) {
                releases.append(n)
            }
            #expect(releases == [3])
        } catch {
            try? await conn.close()
            throw error
        }
        try await conn.close()
        try await MigratorTests.drop(url)
    }

    @Test func statementsEndAtASemicolonOutsideDollarQuotes() {
        let source = """
            -- a comment; not a statement
            DROP FUNCTION IF EXISTS f(int);

            CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$
            BEGIN
                RETURN $1; -- ends no statement;
            END
            $body$;
            CREATE POLICY p ON t
                USING (true);
            """
        #expect(
            SchemaDefinitions.statements(in: source) == [
                "DROP FUNCTION IF EXISTS f(int)",
                "CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n    RETURN $1; -- ends no statement;\nEND\n$body$",
                "CREATE POLICY p ON t\n    USING (true)",
            ]
        )
    }
}
