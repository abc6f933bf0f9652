public import Logging
public import PostgresNIO

/// Applies pending migrations, then the current schema definitions, under an advisory lock, so
/// replicas starting together take turns.
public struct Migrator: Sendable {
    /// Arbitrary but fixed: "AMS1" as an integer.
    static let lockKey: Int64 = 0x414D_5331

    let client: PostgresClient
    let migrations: [Migration]
    let logger: Logger

    public init(client: PostgresClient, migrations: [Migration] = Migration.all, logger: Logger) {
        self.client = client
        self.migrations = migrations
        self.logger = logger
    }

    /// Returns the versions it applied.
    @discardableResult
    public func run() async throws -> [Int] {
        try await client.withConnection { conn in try await Self.run(migrations, on: Connection(conn), logger: logger) }
    }

    /// Migrates over a connection of its own, without the request pool's statement and lock
    /// timeouts: waiting for another replica's migration, or a backfill of a large table, may take
    /// longer than any request should. `definitions: nil` stops after the numbered history.
    /// `appRole`, the role `serve` connects as, is then granted what the service needs (see `grant`).
    @discardableResult
    public static func run(
        url: String,
        migrations: [Migration] = Migration.all,
        definitions: SchemaDefinitions? = .current,
        appRole: String? = nil,
        logger: Logger
    ) async throws -> [Int] {
        try await withConnection(url: url, logger: logger) { conn in
            try await run(migrations, definitions: definitions, appRole: appRole, on: conn, logger: logger)
        }
    }

    static func withConnection<T>(url: String, logger: Logger, _ body: (Connection) async throws -> T) async throws -> T {
        let conn = Connection(try await PostgresConnection.connect(configuration: try .init(url: url), id: 0, logger: logger))
        do {
            let result = try await body(conn)
            try? await conn.close()
            return result
        } catch {
            try? await conn.close()
            throw error
        }
    }

    static func run(
        _ migrations: [Migration],
        definitions: SchemaDefinitions? = .current,
        appRole: String? = nil,
        on conn: Connection,
        logger: Logger
    ) async throws -> [Int] {
        try await conn.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
        do {
            let applied = try await apply(migrations, definitions: definitions, on: conn, logger: logger)
            if let appRole { try await grant(to: appRole, on: conn, logger: logger) }
            try await conn.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            return applied
        } catch {
            _ = try? await conn.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            throw error
        }
    }

    private static func apply(
        _ migrations: [Migration],
        definitions: SchemaDefinitions?,
        on conn: Connection,
        logger: Logger
    ) async throws -> [Int] {
        try await conn.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """,
            logger: logger
        )
        var done = Set<Int>()
        for try await version in try await conn.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
            done.insert(version)
        }
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            try await conn.transaction(logger: logger) { tx in
                for statement in migration.statements {
                    try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await tx.query("INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
            }
            logger.info("migration applied", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        // The definitions name every table of the history: a database part-way through it waits for the rest.
        if Set(Migration.all.map(\.version)).isSubset(of: done.union(applied)) {
            try await definitions?.install(on: conn, logger: logger, everything: !applied.isEmpty)
        }
        return applied
    }
}
