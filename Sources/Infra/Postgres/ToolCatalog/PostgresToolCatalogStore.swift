public import Domain
import Logging
import PostgresNIO

/// `ToolCatalogStore` on PostgreSQL; a replaced catalog is announced to every replica (`PostgresDatabase.channel`).
public struct PostgresToolCatalogStore: ToolCatalogStore, PostgresStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func toolCatalog() async throws -> [ToolDefinition] {
        try await single { conn in try await read(on: conn) }
    }

    private func read(on conn: Connection) async throws -> [ToolDefinition] {
        let rows = try await conn.query(
            "SELECT id, name, min_tier, required_config::text FROM tool_catalog ORDER BY position",
            logger: logger
        )
        var tools: [ToolDefinition] = []
        for try await (id, name, minTier, required) in rows.decode((String, String, String?, String).self) {
            let keys: [String] = if case .array(let a) = JSONValue.parse(Array(required.utf8)) { a.compactMap(\.stringValue) } else { [] }
            tools.append(ToolDefinition(id: id, name: name, minTier: minTier.flatMap(Tier.init), requiredConfig: keys))
        }
        return tools
    }

    /// Tools removed or changed can make agents that use them invalid: the tenants with a live agent
    /// that uses one get a revalidation, recorded in the same transaction. Replacements take turns
    /// (the seed's lock), so each compares with the catalog the one before it left.
    public func replaceToolCatalog(_ tools: [ToolDefinition]) async throws {
        try await single { conn in
            try await conn.transaction(logger: logger) { conn in
                try await conn.query("SELECT pg_advisory_xact_lock(\(Self.seedLockKey))", logger: logger)
                let before = try await read(on: conn)
                try await write(tools, on: conn)
                let changed = Set(before.map(\.id)).union(tools.map(\.id)).filter { id in
                    before.first { $0.id == id } != tools.first { $0.id == id }
                }
                guard !changed.isEmpty else { return }
                try await conn.query(
                    "SELECT ams_record_revalidations(ARRAY(SELECT ams_tenants_using_tools(\(changed.sorted()))), 'tool_catalog_changed')",
                    logger: logger
                )
            }
        }
    }

    /// Seeds the catalog from the shipped file the first time the database has none. Replicas start
    /// together: a transaction-scoped advisory lock lets only the first one seed.
    public func seedToolCatalog(_ tools: [ToolDefinition]) async throws {
        guard !tools.isEmpty else { return }
        try await single { conn in
            try await conn.transaction(logger: logger) { conn in
                try await conn.query("SELECT pg_advisory_xact_lock(\(Self.seedLockKey))", logger: logger)
                var existing = 0
                for try await count in try await conn.query("SELECT count(*)::int FROM tool_catalog", logger: logger).decode(Int.self) {
                    existing = count
                }
                if existing == 0 { try await write(tools, on: conn) }
            }
        }
    }

    /// "AMS2" as an integer (the migrator holds "AMS1"): seeds and replacements of the catalog take turns on it.
    static let seedLockKey: Int64 = 0x414D_5332

    private func write(_ tools: [ToolDefinition], on conn: Connection) async throws {
        try await conn.query("DELETE FROM tool_catalog", logger: logger)
        for (position, tool) in tools.enumerated() {
            try await conn.query(
                """
                INSERT INTO tool_catalog (position, id, name, min_tier, required_config)
                VALUES (\(position), \(tool.id), \(tool.name), \(tool.minTier?.rawValue),
                        \(Self.text(.array(tool.requiredConfig.map(JSONValue.string))))::jsonb)
                """,
                logger: logger
            )
        }
        try await conn.query("SELECT pg_notify(\(Self.channel), \(ChangeNotification(kind: .tools).payload))", logger: logger)
    }
}
