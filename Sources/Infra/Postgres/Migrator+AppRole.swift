import Logging
import PostgresNIO

extension Migrator {
    /// A role `migrate --app-role` will not grant to: with it, the service could widen its own view,
    /// or it is not a role the service can connect as.
    public struct AppRoleRefused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Grants `role` (an existing login role, never created here) what `serve` needs and nothing
    /// that lets it widen its view: the rows of every table (Row-Level Security confines them, as the
    /// role owns none), their sequences, the functions (the `SECURITY DEFINER` ones do the
    /// cross-tenant work), and reading the schema's own records; and the same on what the owner makes
    /// later (default privileges), so a migration or install run without `--app-role` (which may
    /// re-create a function) leaves the role able to serve. Run after every migration too.
    static func grant(to role: String, on conn: Connection, logger: Logger) async throws {
        let name = try await checkAppRole(role, on: conn, logger: logger)
        var records: [String] = []
        for try await table in try await conn.query(
            """
            SELECT c.oid::regclass::text FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ('schema_migrations', 'schema_definitions')
            """,
            logger: logger
        ).decode(String.self) {
            records.append(table)
        }
        for statement in [
            "GRANT USAGE ON SCHEMA public TO \(name)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \(name)",
            "REVOKE INSERT, UPDATE, DELETE ON \(records.joined(separator: ", ")) FROM \(name)",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \(name)",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO \(name)",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO \(name)",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO \(name)",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO \(name)",
        ] {
            try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        logger.notice("service role granted", metadata: ["role": "\(role)"])
    }

    /// The role's name as an identifier (quoted where it must be), once it is known to be one the
    /// service may connect as.
    private static func checkAppRole(_ role: String, on conn: Connection, logger: Logger) async throws -> String {
        let rows = try await conn.query(
            """
            SELECT r.oid::regrole::text, r.rolcanlogin, r.rolsuper, r.rolbypassrls,
                pg_has_role(r.oid, current_user, 'MEMBER'), has_schema_privilege(r.oid, 'public', 'CREATE')
            FROM pg_roles r WHERE r.rolname = \(role)
            """,
            logger: logger
        )
        for try await (name, login, superuser, bypassRLS, owner, creates) in rows.decode((String, Bool, Bool, Bool, Bool, Bool).self) {
            let refusal = refusal(name, login: login, superuser: superuser, bypassRLS: bypassRLS, owner: owner, creates: creates)
            if let refusal { throw AppRoleRefused(description: "role \(role) \(refusal)") }
            return name
        }
        throw AppRoleRefused(description: "role \(role) does not exist: create it (CREATE ROLE … LOGIN PASSWORD …); migrate only grants")
    }

    /// Why a role could widen its view (or not serve at all), for `migrate --app-role` and `serve`.
    static func refusal(_ name: String, login: Bool, superuser: Bool, bypassRLS: Bool, owner: Bool, creates: Bool) -> String? {
        if superuser {
            "is a superuser, which Row-Level Security never confines"
        } else if bypassRLS {
            "has BYPASSRLS: ALTER ROLE \(name) NOBYPASSRLS"
        } else if owner {
            "is (or is a member of) the role that owns the schema, which may switch Row-Level Security off"
        } else if !login {
            "cannot log in: ALTER ROLE \(name) LOGIN"
        } else if creates {
            "may create objects in schema public, beside the functions that do the cross-tenant work: "
                + "REVOKE CREATE ON SCHEMA public FROM PUBLIC, \(name)"
        } else {
            nil
        }
    }
}
