import Foundation
import Logging
import PostgresNIO
import Testing

@testable import Infra

@Suite struct SchemaDefinitionsTests {
    static let logger = Logger(label: "test")

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
        try await Migrator.run(url: url, logger: Self.logger)
        try await Self.withConnection(url) { conn in
            let installed = try await Self.snapshot(conn).functions
            #expect(installed.keys.sorted() == source.keys.sorted())
            for (name, definition) in source {
                #expect(installed[name] == definition, "\(name) differs from its subject file")
            }
        }
        try await MigratorTests.drop(url)
    }

    /// The subject files are the history's last word: installing them over the numbered migrations
    /// changes no policy or trigger, and no function but the retired ones (gone) and the writes
    /// that no longer send the legacy agent notice.
    @Test func theDefinitionsRestateTheHistory() async throws {
        let url = try await MigratorTests.freshDatabase()
        try await Migrator.run(url: url, definitions: nil, logger: Self.logger)
        try await Self.withConnection(url) { conn in
            let history = try await Self.snapshot(conn)
            try await SchemaDefinitions.current.install(on: conn, logger: Self.logger)
            let current = try await Self.snapshot(conn)
            // The files' policies of what the history has no policy for yet (the purge of finished tasks).
            let added = current.policies.filter { Self.addedPolicies.contains(String($0.prefix { $0 != "(" })) }
            #expect(added.count == Self.addedPolicies.count)
            #expect(current.policies.filter { !added.contains($0) } == history.policies.map(Self.ownersOnly))
            // The history's event trigger is retired: the writes record their events themselves.
            #expect(current.triggers == history.triggers.filter { !$0.contains("agent_history_event") })
            #expect(history.policies.count >= 20 && history.triggers.count == 5)
            #expect(
                Set(history.overloads).subtracting(current.overloads) == [
                    "ams_delete_agent(text,uuid)", "ams_history_event()", "ams_sequence_outbox(integer)",
                    "ams_update_agent(text,uuid,integer,text,text,text,jsonb,jsonb,timestamp with time zone,text)",
                ]
            )
            var notifiersDropped: [String] = []
            var runAsOwner: [String] = []
            for (name, definition) in current.functions {
                // Functions the history does not have, and ones changed on purpose since (see `changedFunctions`).
                guard let before = history.functions[name] else {
                    #expect(Self.addedFunctions.contains(name), "\(name) is not in the history")
                    continue
                }
                guard before != definition else { continue }
                // The cross-tenant work runs as the tables' owner, its search path pinned.
                guard !Self.changedFunctions.contains(name) else {
                    if definition.contains(Self.definer) { runAsOwner.append(name) }
                    if Self.recordingFunctions.contains(name) { #expect(!definition.contains("agent_management_changes")) }
                    continue
                }
                if definition.contains(Self.definer) {
                    #expect(definition.replacingOccurrences(of: Self.definer, with: "") == before, "\(name) changed beyond running as its owner")
                    runAsOwner.append(name)
                    continue
                }
                #expect(Self.withoutLegacyNotices(before) == definition, "\(name) changed beyond the legacy notice")
                notifiersDropped.append(name)
            }
            #expect(
                runAsOwner.sorted() == [
                    "ams_claim_webhooks", "ams_outbox_after", "ams_purge_deleted", "ams_purge_outbox", "ams_purge_webhook_deliveries",
                    "ams_sequence_outbox_events", "ams_tenants_using_tools", "ams_webhooks_next_due",
                ]
            )
            // The writes that dropped the legacy notice have changed since on purpose (`recordingFunctions`).
            #expect(notifiersDropped.isEmpty)
        }
        try await MigratorTests.drop(url)
    }

    /// A subject file edited without a new release would let two builds of one release overwrite
    /// each other's definitions on every restart.
    @Test func theFilesAreTheReleasesFiles() {
        let checksum = SchemaDefinitions.current.checksum
        #expect(
            checksum == SchemaDefinitions.releaseChecksum,
            "a subject file changed: bump SchemaDefinitions.release and set releaseChecksum to \(checksum)"
        )
    }

    @Test func everySubjectFileIsInstalled() throws {
        let folder = TierPolicyFileTests.root + "/Sources/Infra/Postgres/Schema"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sql") }
        #expect(files.map { String($0.dropLast(4)) }.sorted() == SchemaDefinitions.subjects.map(\.name).sorted())
    }

    /// An older release leaves a newer one's definitions in place; the same release re-installs
    /// only when its files changed.
    @Test func anOlderReleaseNeverOverwritesANewerOne() async throws {
        let url = try await MigratorTests.freshDatabase()
        try await Self.withConnection(url) { conn in
            func definitions(_ release: Int, probe: Int) -> SchemaDefinitions {
                SchemaDefinitions(release: release, sources: [Self.probe(returning: probe)])
            }
            try await definitions(2, probe: 2).install(on: conn, logger: Self.logger)
            #expect(try await Self.probe(conn) == 2)
            try await definitions(1, probe: 1).install(on: conn, logger: Self.logger)
            #expect(try await Self.probe(conn) == 2, "release 1 overwrote release 2")
            try await definitions(2, probe: 3).install(on: conn, logger: Self.logger)
            #expect(try await Self.probe(conn) == 3, "an edited file of the same release was not installed")
            try await definitions(3, probe: 4).install(on: conn, logger: Self.logger)
            #expect(try await Self.probe(conn) == 4)
            var releases: [Int] = []
            for try await n in try await conn.query("SELECT release FROM schema_definitions", logger: Self.logger).decode(Int.self) {
                releases.append(n)
            }
            #expect(releases == [3])
        }
        try await MigratorTests.drop(url)
    }

    /// A new release re-creates only what it changed: an unchanged policy keeps its table unlocked
    /// (and its identity), a changed one is made anew.
    @Test func onlyChangedDefinitionsAreInstalledAgain() async throws {
        let url = try await MigratorTests.freshDatabase()
        try await Self.withConnection(url) { conn in
            try await conn.query("CREATE TABLE probe (tenant_id text)", logger: Self.logger)
            let kept = Self.policy("kept", "true")
            try await SchemaDefinitions(release: 1, sources: [kept, Self.policy("moved", "true"), Self.probe(returning: 1)])
                .install(on: conn, logger: Self.logger)
            let before = try await Self.policyIDs(conn)
            #expect(before.keys.sorted() == ["kept", "moved"])
            try await SchemaDefinitions(release: 2, sources: [kept, Self.policy("moved", "false"), Self.probe(returning: 2)])
                .install(on: conn, logger: Self.logger)
            let after = try await Self.policyIDs(conn)
            #expect(after["kept"] == before["kept"], "an unchanged policy was made anew")
            #expect(after["moved"] != before["moved"])
            #expect(try await Self.probe(conn) == 2)
        }
        try await MigratorTests.drop(url)
    }

    /// A table lock held by a running replica's transaction makes the install wait at most its lock
    /// timeout, then try again; it lands once the lock goes, and gives up after its last attempt.
    @Test func aHeldTableLockDelaysTheInstallWithoutBlockingIt() async throws {
        let url = try await MigratorTests.freshDatabase()
        try await Self.withConnection(url) { conn in
            try await conn.query("CREATE TABLE probe (tenant_id text)", logger: Self.logger)
            try await Self.withConnection(url) { holder in
                try await holder.query("BEGIN", logger: Self.logger)
                try await holder.query("LOCK TABLE probe IN ACCESS SHARE MODE", logger: Self.logger)
                let once = SchemaDefinitions(release: 1, sources: [Self.policy("p", "true")])
                do {
                    try await once.install(on: conn, logger: Self.logger, lockTimeout: .milliseconds(100), attempts: 1)
                    Issue.record("installed past a held lock")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "55P03", "lock_not_available")
                }
                async let installed: Void = once.install(on: conn, logger: Self.logger, lockTimeout: .milliseconds(100), attempts: 6)
                try await Task.sleep(for: .milliseconds(300))
                try await holder.query("COMMIT", logger: Self.logger)
                try await installed
            }
            #expect(try await Self.policyIDs(conn).keys.sorted() == ["p"])
        }
        try await MigratorTests.drop(url)
    }

    /// A digest recorded per key: two definitions of one key would each undo the other's record.
    @Test func everyDefinitionHasAKeyOfItsOwn() {
        let keys = SchemaDefinitions.current.definitions.map(\.key)
        #expect(Set(keys).count == keys.count)
    }

    /// After a numbered migration every definition is installed again, whatever was recorded: a
    /// table change may have dropped a policy or trigger that the files still define.
    @Test func aNumberedMigrationReinstallsEveryDefinition() async throws {
        let url = try await MigratorTests.freshDatabase()
        try await Migrator.run(url: url, logger: Self.logger)
        try await Self.withConnection(url) { conn in
            try await conn.query("DROP POLICY tenant_isolation ON tasks", logger: Self.logger)
        }
        try await Migrator.run(url: url, logger: Self.logger)
        try await Self.withConnection(url) { conn in
            let policies = try await Self.snapshot(conn).policies
            #expect(policies.filter { $0.hasPrefix("tasks | tenant_isolation") }.isEmpty, "no migration, nothing recorded changed")
        }
        let next = Migration(version: Migration.all.count + 1000, name: "probe", statements: ["CREATE TABLE probe_table (id int)"])
        #expect(try await Migrator.run(url: url, migrations: Migration.all + [next], logger: Self.logger) == [next.version])
        try await Self.withConnection(url) { conn in
            let policies = try await Self.snapshot(conn).policies
            #expect(policies.filter { $0.hasPrefix("tasks | tenant_isolation") }.count == 1)
        }
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

    @Test func aPolicysDropAndCreateAreOneDefinition() {
        let definitions = SchemaDefinitions(release: 1, sources: [Self.policy("p", "true"), Self.probe(returning: 1)]).definitions
        #expect(definitions.map(\.key) == ["policy p on probe", "function ams_probe"])
        #expect(definitions.map(\.statements.count) == [2, 1])
        // A DROP right before its function's CREATE (a changed result type) goes with it; a retired one stands alone.
        let changed = SchemaDefinitions(
            release: 1,
            sources: [
                "DROP FUNCTION IF EXISTS ams_old(integer);\nDROP FUNCTION IF EXISTS ams_probe(integer);\n" + Self.probe(returning: 1)
            ]
        ).definitions
        #expect(changed.map(\.key) == ["DROP FUNCTION IF EXISTS ams_old(integer)", "function ams_probe"])
        #expect(changed.map(\.statements.count) == [1, 2])
        #expect(
            SchemaDefinitions.key(of: "CREATE OR REPLACE TRIGGER t AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION f()")
                == "trigger t on outbox"
        )
    }

    // MARK: - Support

    static func policy(_ name: String, _ condition: String) -> String {
        "DROP POLICY IF EXISTS \(name) ON probe;\nCREATE POLICY \(name) ON probe\n    USING (\(condition));\n"
    }

    static func probe(returning value: Int) -> String {
        "CREATE OR REPLACE FUNCTION ams_probe()\n RETURNS integer\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n"
            + "    RETURN \(value); -- a ; inside the body\nEND\n$function$;\n"
    }

    static func probe(_ conn: Connection) async throws -> Int {
        var value = 0
        for try await n in try await conn.query("SELECT ams_probe()", logger: logger).decode(Int.self) { value = n }
        return value
    }

    static func policyIDs(_ conn: Connection) async throws -> [String: Int] {
        var ids: [String: Int] = [:]
        for try await (name, id) in try await conn.query(
            "SELECT polname::text, oid::int FROM pg_policy WHERE polrelid = 'probe'::regclass",
            logger: logger
        ).decode((String, Int).self) {
            ids[name] = id
        }
        return ids
    }

    struct Snapshot {
        var functions: [String: String] = [:]
        var overloads: [String] = []
        var policies: [String] = []
        var triggers: [String] = []
    }

    static func snapshot(_ conn: Connection) async throws -> Snapshot {
        var snapshot = Snapshot()
        for try await (name, signature, definition) in try await conn.query(
            """
            SELECT p.proname::text, p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname LIKE 'ams\\_%'
            """,
            logger: logger
        ).decode((String, String, String).self) {
            snapshot.overloads.append(signature)
            let unqualified = definition.replacingOccurrences(of: "FUNCTION public.", with: "FUNCTION ")
            snapshot.functions[name] = unqualified.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(Set(snapshot.overloads).count == snapshot.overloads.count)
        for try await policy in try await conn.query(
            """
            SELECT concat_ws(' | ', tablename, policyname, permissive, roles::text, cmd, qual, with_check) FROM pg_policies
            WHERE schemaname = 'public' ORDER BY tablename, policyname
            """,
            logger: logger
        ).decode(String.self) {
            snapshot.policies.append(policy)
        }
        for try await trigger in try await conn.query(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname",
            logger: logger
        ).decode(String.self) {
            snapshot.triggers.append(trigger)
        }
        return snapshot
    }

    /// Functions the subject files define that the numbered history does not: task progress kept as
    /// steps (`ams_task_result`), the purge of finished tasks, the revalidations recorded with their cause,
    /// and the group commits of creates and updates.
    static let addedFunctions: Set<String> = [
        "ams_task_result", "ams_purge_tasks", "ams_record_revalidations", "ams_claim_revalidations", "ams_settle_revalidations",
        "ams_create_agents", "ams_update_agents", "ams_record_change",
    ]

    /// Functions the files changed beyond the history on purpose: a task's progress is stored as steps
    /// (`ams_task_progress`), read back whole (`ams_start_tasks`) and dropped when it finishes (`ams_finish_tasks`);
    /// a claim moves filtered webhook endpoints past what they do not want and answers what one missed
    /// (`ams_claim_webhooks`), and the purge keeps what an active endpoint has yet to get and records
    /// what one missed (`ams_purge_outbox`); the purges, run as the owner across tenants, hold the
    /// retention to an hour at least (`ams_purge_deleted`, `ams_purge_webhook_deliveries`); the reads of
    /// sequenced events answer the trace that wrote each (`ams_sequence_outbox_events`, `ams_outbox_after`).
    static let changedFunctions = Set([
        "ams_start_tasks", "ams_finish_tasks", "ams_task_progress", "ams_claim_webhooks", "ams_purge_outbox",
        "ams_purge_deleted", "ams_purge_webhook_deliveries", "ams_sequence_outbox_events", "ams_outbox_after",
    ]).union(recordingFunctions)

    /// The agent writes, which no longer send the legacy notice and now write their history entry
    /// and its event in one statement (`ams_record_change`) from what they know of the agent,
    /// instead of a trigger reading the agent back.
    static let recordingFunctions: Set<String> = [
        "ams_create_agent", "ams_delete_agent", "ams_record", "ams_restore_agent", "ams_set_agent_status", "ams_set_validation",
        "ams_update_agent",
    ]

    /// Policies (table, name, kind, roles, command) the files add to the history's: the purge of finished tasks.
    static let addedPolicies: Set<String> = [
        "tasks | purge_read | PERMISSIVE | {ams} | SELECT | ", "tasks | purge_delete | PERMISSIVE | {ams} | DELETE | ",
    ]

    /// What makes a function run as its owner, as `pg_get_functiondef` shows it.
    static let definer = " SECURITY DEFINER\n SET search_path TO 'pg_catalog', 'public', 'pg_temp'\n"

    /// A policy of the history as the files define it now: the cross-tenant ones apply to the tables'
    /// owner (`ams`, who installs them `TO CURRENT_USER`) only, so the service's own role gets none.
    static func ownersOnly(_ policy: String) -> String {
        var fields = policy.components(separatedBy: " | ")
        guard fields.count > 3, ["notifier", "purge_read", "purge_delete", "catalog_scan"].contains(fields[1]) else { return policy }
        fields[3] = "{ams}"
        return fields.joined(separator: " | ")
    }

    /// A function's text with its `PERFORM pg_notify('agent_management_changes', …);` statements cut out.
    static func withoutLegacyNotices(_ definition: String) -> String {
        var lines: [Substring] = []
        var skipping = false
        for line in definition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.contains("pg_notify('agent_management_changes'") { skipping = true }
            if !skipping { lines.append(line) }
            if skipping && line.hasSuffix(";") { skipping = false }
        }
        return lines.joined(separator: "\n")
    }

    static func withConnection(_ url: String, _ body: (Connection) async throws -> Void) async throws {
        let conn = Connection(try await PostgresConnection.connect(configuration: try .init(url: url), id: 1, logger: logger))
        do {
            try await body(conn)
        } catch {
            try? await conn.close()
            throw error
        }
        try await conn.close()
    }
}
