public import Domain
public import Foundation
public import Logging
public import PostgresNIO

/// `AgentStore` on PostgreSQL. Tenant-scoped work first sets `app.tenant_id`, so Row-Level Security
/// confines it even if a query forgot its filter. Writes are single calls of the functions of
/// migration 2 (one round trip, one implicit transaction) that also `NOTIFY` the change.
public struct PostgresAgentStore: AgentStore {
    public static let channel = "agent_management_changes"
    static let columns = "id, tenant_id, version, config::text, validation::text, created_at, updated_at, created_by, updated_by"

    let client: PostgresClient
    let defaultTier: Tier
    let database: DatabaseGuard
    let logger: Logger

    /// `timeout` is the client-side deadline of a call; see `PostgresClient.Configuration(url:statementTimeout:)`
    /// for the server-side ones that should fire first.
    public init(
        client: PostgresClient, defaultTier: Tier, timeout: Duration = .seconds(3), metrics: DatabaseMetrics = .none, logger: Logger
    ) {
        self.client = client
        self.defaultTier = defaultTier
        self.database = DatabaseGuard(timeout: timeout, metrics: metrics)
        self.logger = logger
    }

    public func tenant(_ id: TenantID) async throws -> Tenant {
        try await inTenant(id) { conn in
            let rows = try await conn.query("SELECT tier FROM tenants WHERE tenant_id = \(id)", logger: logger)
            for try await raw in rows.decode(String.self) {
                return Tenant(id: id, tier: Tier(rawValue: raw) ?? defaultTier)
            }
            return Tenant(id: id, tier: defaultTier)
        }
    }

    public func setTier(_ tier: Tier, for id: TenantID) async throws -> Tenant {
        try await inTenant(id) { conn in
            try await conn.query("""
                INSERT INTO tenants (tenant_id, tier) VALUES (\(id), \(tier.rawValue))
                ON CONFLICT (tenant_id) DO UPDATE SET tier = excluded.tier, updated_at = now()
                """, logger: logger)
            try await conn.query("SELECT pg_notify(\(Self.channel), \(ChangeNotification(kind: .tenant, tenantID: id).payload))", logger: logger)
            return Tenant(id: id, tier: tier)
        }
    }

    public func agent(_ id: UUID, tenant: TenantID) async throws -> Agent? {
        try await single { conn in
            let rows = try await conn.query("SELECT \(unescaped: Self.columns) FROM ams_agent(\(tenant), \(id))", logger: logger)
            for try await row in rows {
                return try Self.agent(row.makeRandomAccess())
            }
            return nil
        }
    }

    public func agents(tenant: TenantID, query q: AgentQuery) async throws -> AgentPage {
        let pattern = q.text.map { "%" + Self.escapeLike($0) + "%" }
        return try await inTenant(tenant) { conn in
            let rows = try await conn.query("""
                SELECT \(unescaped: Self.columns), seq FROM agents
                WHERE tenant_id = \(tenant) AND deleted_at IS NULL
                  AND (\(q.after)::bigint IS NULL OR seq < \(q.after))
                  AND (\(q.status?.rawValue)::text IS NULL OR status = \(q.status?.rawValue))
                  AND (\(q.type?.rawValue)::text IS NULL OR type = \(q.type?.rawValue))
                  AND (\(q.tag)::text IS NULL OR (config -> 'tags') ? \(q.tag))
                  AND (\(pattern)::text IS NULL OR name ILIKE \(pattern) OR (config ->> 'description') ILIKE \(pattern))
                ORDER BY seq DESC
                LIMIT \(q.limit + 1)
                """, logger: logger)
            var items: [Agent] = []
            var positions: [Int64] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                items.append(try Self.agent(cells))
                positions.append(try cells[9].decode(Int64.self))
            }
            guard items.count > q.limit else { return AgentPage(items: items, next: nil) }
            items.removeLast()
            return AgentPage(items: items, next: positions[q.limit - 1])
        }
    }

    public func countAgents(tenant: TenantID) async throws -> Int {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query("SELECT agent_count FROM tenants WHERE tenant_id = \(tenant)", logger: logger)
            for try await n in rows.decode(Int.self) { return n }
            return 0
        }
    }

    public func insert(_ agent: Agent, quota: AgentQuota) async throws {
        let c = agent.config
        let limits = JSONValue.object(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, JSONValue.int(quota[$0])) }))
        let full = try await single { conn in
            try await Self.uniqueName(c.name) {
                let rows = try await conn.query("""
                    SELECT ams_create_agent(\(agent.tenantID), \(defaultTier.rawValue), \(Self.text(limits))::jsonb,
                        \(agent.id), \(c.name), \(c.type.rawValue), \(c.status.rawValue),
                        \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb, \(agent.createdAt), \(agent.createdBy))
                    """, logger: logger)
                for try await tier in rows.decode(String?.self) { return tier }
                throw ServiceError(.internalError, "Create returned no row")
            }
        }
        if let full {
            let tier = Tier(rawValue: full) ?? defaultTier
            throw ServiceError.quotaReached(tier: tier, limit: quota[tier])
        }
    }

    public func update(_ agent: Agent) async throws -> Bool {
        let c = agent.config
        return try await single { conn in
            try await Self.uniqueName(c.name) {
                let rows = try await conn.query("""
                    SELECT ams_update_agent(\(agent.tenantID), \(agent.id), \(agent.version - 1)::int, \(c.name), \(c.type.rawValue),
                        \(c.status.rawValue), \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb,
                        \(agent.updatedAt), \(agent.updatedBy))
                    """, logger: logger)
                for try await version in rows.decode(Int?.self) { return version == agent.version }
                return false
            }
        }
    }

    public func delete(_ id: UUID, tenant: TenantID) async throws -> Int? {
        try await single { conn in
            let rows = try await conn.query("SELECT ams_delete_agent(\(tenant), \(id))", logger: logger)
            for try await version in rows.decode(Int?.self) { return version }
            return nil
        }
    }

    public func toolCatalog() async throws -> [ToolDefinition] {
        try await single { conn in
            let rows = try await conn.query(
                "SELECT id, name, min_tier, required_config::text FROM tool_catalog ORDER BY position", logger: logger)
            var tools: [ToolDefinition] = []
            for try await (id, name, minTier, required) in rows.decode((String, String, String?, String).self) {
                let keys: [String] = if case .array(let a) = JSONValue.parse(Array(required.utf8)) { a.compactMap(\.stringValue) } else { [] }
                tools.append(ToolDefinition(id: id, name: name, minTier: minTier.flatMap(Tier.init), requiredConfig: keys))
            }
            return tools
        }
    }

    public func replaceToolCatalog(_ tools: [ToolDefinition]) async throws {
        try await single { conn in
            try await conn.withTransaction(logger: logger) { conn in try await write(tools, on: conn) }
        }
    }

    /// Seeds the catalog from the shipped file the first time the database has none. Replicas start
    /// together: a transaction-scoped advisory lock lets only the first one seed.
    public func seedToolCatalog(_ tools: [ToolDefinition]) async throws {
        guard !tools.isEmpty else { return }
        try await single { conn in
            try await conn.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT pg_advisory_xact_lock(\(Self.seedLockKey))", logger: logger)
                var existing = 0
                for try await count in try await conn.query("SELECT count(*)::int FROM tool_catalog", logger: logger).decode(Int.self) {
                    existing = count
                }
                if existing == 0 { try await write(tools, on: conn) }
            }
        }
    }

    /// "AMS2" as an integer; the migrator holds "AMS1".
    static let seedLockKey: Int64 = 0x414D_5332

    private func write(_ tools: [ToolDefinition], on conn: PostgresConnection) async throws {
        try await conn.query("DELETE FROM tool_catalog", logger: logger)
        for (position, tool) in tools.enumerated() {
            try await conn.query("""
                INSERT INTO tool_catalog (position, id, name, min_tier, required_config)
                VALUES (\(position), \(tool.id), \(tool.name), \(tool.minTier?.rawValue),
                        \(Self.text(.array(tool.requiredConfig.map(JSONValue.string))))::jsonb)
                """, logger: logger)
        }
        try await conn.query("SELECT pg_notify(\(Self.channel), \(ChangeNotification(kind: .tools).payload))", logger: logger)
    }

    /// Readiness, through the same guard (breaker and lease clock) as every other call.
    public func isReachable() async -> Bool {
        await database.isReachable { lease in
            try await client.withConnection { conn in
                lease.hold(conn)
                defer { lease.release() }
                for try await _ in try await conn.query("SELECT 1", logger: logger) {}
            }
        }
    }

    // MARK: - Helpers

    /// One guarded call on one leased connection.
    private func single<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        try await database.run { lease in
            try await client.withConnection { conn in
                lease.hold(conn)
                defer { lease.release() }
                return try await body(conn)
            }
        }
    }

    private func inTenant<R: Sendable>(_ tenant: TenantID, _ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        try await single { conn in
            try await conn.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                return try await body(conn)
            }
        }
    }

    /// Turns the unique-index violation into the documented conflict, naming the name.
    private static func uniqueName<R>(_ name: String, _ write: () async throws -> R) async throws -> R {
        do {
            return try await write()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ServiceError.nameConflict(name)
        }
    }

    /// Decodes the `columns` list column by column (the tuple form of `decode` crashes the
    /// optimizer of Swift 6.3 in release builds). Stored configurations are read leniently: a row
    /// written by a newer release may carry fields this one does not know.
    private static func agent(_ cells: PostgresRandomAccessRow) throws -> Agent {
        let config = try cells[3].decode(String.self)
        let validation = try cells[4].decode(String.self)
        guard let json = JSONValue.parse(Array(config.utf8)) else { throw ServiceError(.internalError, "Stored agent unreadable") }
        return Agent(
            id: try cells[0].decode(UUID.self), tenantID: try cells[1].decode(String.self), version: try cells[2].decode(Int.self),
            config: try AgentConfig(stored: json),
            validation: ValidationReport(json: JSONValue.parse(Array(validation.utf8)) ?? .null),
            createdAt: try cells[5].decode(Date.self), updatedAt: try cells[6].decode(Date.self),
            createdBy: try cells[7].decode(String.self), updatedBy: try cells[8].decode(String.self)
        )
    }

    private static func text(_ json: JSONValue) -> String { String(decoding: json.encoded, as: UTF8.self) }

    private static func escapeLike(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
