public import Logging
import PostgresNIO

extension Migrator {
    /// `serve` connects as a role that does not own the schema, and the schema is behind this build.
    public struct SchemaBehind: Error, CustomStringConvertible {
        public let role: String

        public var description: String {
            "the database schema is behind this release, and role \(role) does not own it: "
                + "run `agent-management migrate --app-role \(role)` with AMS_DATABASE_URL naming the schema's owner, then start the service again"
        }
    }

    /// `serve` connects as a role that does not own the schema, and was not granted all it needs.
    public struct PrivilegesMissing: Error, CustomStringConvertible {
        public let role: String
        public let missing: [String]

        public var description: String {
            "role \(role) may not use \(missing.joined(separator: ", ")): "
                + "run `agent-management migrate --app-role \(role)` with AMS_DATABASE_URL naming the schema's owner, then start the service again"
        }
    }

    /// For `serve`: a role that owns the schema (or may create it, on an empty database) migrates
    /// as `run` does; the service's own role, which cannot, starts only on a schema that is this
    /// build's (or newer) and with every grant it needs, and otherwise throws `SchemaBehind` or
    /// `PrivilegesMissing`, which name the command to run; a role that could widen its view,
    /// `AppRoleRefused`.
    @discardableResult
    public static func runOrCheck(url: String, logger: Logger) async throws -> [Int] {
        try await withConnection(url: url, logger: logger) { conn in
            let (role, owns) = try await ownership(on: conn, logger: logger)
            if owns { return try await run(Migration.all, on: conn, logger: logger) }
            guard try await isCurrent(on: conn, logger: logger) else { throw SchemaBehind(role: role) }
            if let refusal = try await widening(role, on: conn, logger: logger) {
                throw AppRoleRefused(description: "role \(role) \(refusal)")
            }
            let missing = try await missingPrivileges(on: conn, logger: logger)
            guard missing.isEmpty else { throw PrivilegesMissing(role: role, missing: missing) }
            return []
        }
    }

    private static func ownership(on conn: Connection, logger: Logger) async throws -> (role: String, owns: Bool) {
        let rows = try await conn.query(
            """
            SELECT current_user::text, CASE WHEN c.oid IS NULL THEN has_schema_privilege('public', 'CREATE')
                ELSE pg_has_role(c.relowner, 'USAGE') END
            FROM (SELECT to_regclass('schema_migrations') AS t) m LEFT JOIN pg_class c ON c.oid = m.t
            """,
            logger: logger
        )
        for try await row in rows.decode((String, Bool).self) { return row }
        return ("", false)
    }

    /// A role that `migrate --app-role` would refuse may not serve either: BYPASSRLS, or CREATE in
    /// `public` (where the cross-tenant functions look), given after it was granted.
    private static func widening(_ role: String, on conn: Connection, logger: Logger) async throws -> String? {
        let rows = try await conn.query(
            "SELECT rolbypassrls, has_schema_privilege('public', 'CREATE') FROM pg_roles WHERE rolname = current_user",
            logger: logger
        )
        for try await (bypassRLS, creates) in rows.decode((Bool, Bool).self) {
            return refusal(role, login: true, superuser: false, bypassRLS: bypassRLS, owner: false, creates: creates)
        }
        return nil
    }

    /// What `grant` gives that the current role lacks: running an `ams_` function, writing a table
    /// (reading the schema's records), using a sequence. A replica started without one would serve
    /// until it first needs it (a webhook claim, say), then fail there on every try.
    private static func missingPrivileges(on conn: Connection, logger: Logger) async throws -> [String] {
        var missing: [String] = []
        for try await name in try await conn.query(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'ams\\_%' AND NOT has_function_privilege(p.oid, 'EXECUTE')
            UNION ALL
            SELECT c.oid::regclass::text FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND CASE
                WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'USAGE')
                WHEN c.relkind NOT IN ('r', 'p') THEN false
                WHEN c.relname IN ('schema_migrations', 'schema_definitions') THEN NOT has_table_privilege(c.oid, 'SELECT')
                ELSE NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
                    AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE'))
                END
            ORDER BY 1
            """,
            logger: logger
        ).decode(String.self) {
            missing.append(name)
        }
        return missing
    }

    /// Every numbered migration applied, and these definitions (or a newer release's) installed.
    private static func isCurrent(on conn: Connection, logger: Logger) async throws -> Bool {
        var exists = (migrations: false, definitions: false)
        for try await row in try await conn.query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('schema_definitions') IS NOT NULL",
            logger: logger
        ).decode((Bool, Bool).self) {
            exists = row
        }
        guard exists.migrations, exists.definitions else { return false }
        var done = Set<Int>()
        for try await version in try await conn.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
            done.insert(version)
        }
        guard Set(Migration.all.map(\.version)).isSubset(of: done) else { return false }
        let current = SchemaDefinitions.current
        for try await (release, checksum) in try await conn.query(
            "SELECT release, checksum FROM schema_definitions",
            logger: logger
        ).decode((Int, String).self) {
            return release > current.release || (release == current.release && checksum == current.checksum)
        }
        return false
    }
}
