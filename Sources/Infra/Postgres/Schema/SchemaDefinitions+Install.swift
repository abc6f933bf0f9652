import Domain
import Logging
import PostgresNIO

extension SchemaDefinitions {
    /// A database older than this has no `CREATE OR REPLACE TRIGGER`.
    static let minimumServerVersion = 140_000

    /// A function is created runnable by every role (PUBLIC); a `SECURITY DEFINER` one does
    /// cross-tenant work as the owner, so only the owner and the service's role (`Migrator.grant`) may run it.
    static let definersOnlyForTheirGrantees: PostgresQuery = """
        DO $$
        DECLARE
            f regprocedure;
        BEGIN
            FOR f IN SELECT p.oid FROM pg_proc p
                WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
                  AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
            LOOP
                EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
            END LOOP;
        END
        $$
        """

    struct ServerTooOld: Error, CustomStringConvertible {
        let version: Int
        var description: String { "PostgreSQL \(version / 10_000) is too old: the schema needs PostgreSQL 14 or later" }
    }

    /// Installs the definitions whose text changed since the last install, in one transaction, unless
    /// the database holds a newer release or exactly these files already; `everything` after a numbered
    /// migration, which may have dropped what the files define. A table lock another session holds (a
    /// long transaction of a running replica) makes it wait at most `lockTimeout`, below the requests'
    /// own timeout since they queue behind it meanwhile, then try again.
    func install(
        on conn: Connection,
        logger: Logger,
        everything: Bool = false,
        lockTimeout: Duration = .seconds(1),
        attempts: Int = 10
    ) async throws {
        var version = 0
        for try await n in try await conn.query("SELECT current_setting('server_version_num')::int", logger: logger).decode(Int.self) {
            version = n
        }
        guard version >= Self.minimumServerVersion else { throw ServerTooOld(version: version) }
        try await conn.query(
            """
            CREATE TABLE IF NOT EXISTS schema_definitions (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), release integer NOT NULL, checksum text NOT NULL,
                digests jsonb NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """,
            logger: logger
        )
        var backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5), jitter: 0.2)
        for attempt in 1... {
            do {
                return try await installOnce(on: conn, logger: logger, everything: everything, lockTimeout: lockTimeout)
            } catch let error as PSQLError where ["55P03", "40P01"].contains(error.serverInfo?[.sqlState]) && attempt < attempts {
                let wait = backoff.next()
                logger.warning(
                    "schema definitions waited too long for a lock; trying again",
                    metadata: ["attempt": "\(attempt)", "retry_in": "\(wait)"]
                )
                try await Task.sleep(for: wait)
            }
        }
    }

    private func installOnce(on conn: Connection, logger: Logger, everything: Bool, lockTimeout: Duration) async throws {
        try await conn.transaction(logger: logger) { tx in
            var installed: (release: Int, checksum: String, digests: String)?
            for try await row in try await tx.query(
                "SELECT release, checksum, digests::text FROM schema_definitions",
                logger: logger
            ).decode((Int, String, String).self) {
                installed = row
            }
            if let installed, installed.release > release {
                logger.warning(
                    "newer schema definitions installed; leaving them",
                    metadata: ["installed_release": "\(installed.release)", "release": "\(release)"]
                )
                return
            }
            if !everything, let installed, installed.release == release, installed.checksum == checksum { return }
            let recorded = everything ? [:] : installed.flatMap { JSONValue.parse(Array($0.digests.utf8))?.objectValue } ?? [:]
            let pending = definitions.filter { recorded[$0.key]?.stringValue != $0.digest }
            try await tx.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = \(lockTimeout.milliseconds)"), logger: logger)
            for definition in pending {
                for statement in definition.statements {
                    try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            try await tx.query(Self.definersOnlyForTheirGrantees, logger: logger)
            let digests = JSONValue.object(Dictionary(definitions.map { ($0.key, JSONValue.string($0.digest)) }) { $1 })
            try await tx.query(
                """
                INSERT INTO schema_definitions (release, checksum, digests)
                VALUES (\(release), \(checksum), \(String(decoding: digests.encoded, as: UTF8.self))::jsonb)
                ON CONFLICT (only_row) DO UPDATE
                SET release = EXCLUDED.release, checksum = EXCLUDED.checksum, digests = EXCLUDED.digests, applied_at = now()
                """,
                logger: logger
            )
            logger.info("schema definitions installed", metadata: ["release": "\(release)", "changed": "\(pending.count)"])
        }
    }
}
