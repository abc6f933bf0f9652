public import Domain
public import Foundation
public import Logging
public import PostgresNIO

/// `AgentStore` on PostgreSQL. Tenant-scoped work runs in a transaction that first sets
/// `app.tenant_id`, so Row-Level Security confines it even if a query forgot its filter; every
/// committed change is announced with `NOTIFY` from inside that transaction.
public struct PostgresAgentStore: AgentStore {
    public static let channel = "agent_management_changes"
    static let columns = "id, tenant_id, version, config::text, validation::text, created_at, updated_at, created_by, updated_by"

    let client: PostgresClient
    let defaultTier: Tier
    let database: DatabaseGuard
    let logger: Logger

    public init(client: PostgresClient, defaultTier: Tier, timeout: Duration = .seconds(3), logger: Logger) {
        self.client = client
        self.defaultTier = defaultTier
        self.database = DatabaseGuard(timeout: timeout)
        self.logger = logger
    }

    public func tenant(_ id: TenantID) async throws -> Tenant {
        try await inTenant(id) { conn in Tenant(id: id, tier: try await lockTenant(id, on: conn)) }
    }

    public func setTier(_ tier: Tier, for id: TenantID) async throws -> Tenant {
        try await inTenant(id) { conn in
            try await conn.query("""
                INSERT INTO tenants (tenant_id, tier) VALUES (\(id), \(tier.rawValue))
                ON CONFLICT (tenant_id) DO UPDATE SET tier = excluded.tier, updated_at = now()
                """, logger: logger)
            try await notify(ChangeNotification(kind: .tenant, tenantID: id), on: conn)
            return Tenant(id: id, tier: tier)
        }
    }

    public func agent(_ id: UUID, tenant: TenantID) async throws -> Agent? {
        try await inTenant(tenant) { conn in try await fetch(id, tenant: tenant, on: conn, lock: false) }
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
        try await inTenant(tenant) { conn in try await Self.count(tenant, on: conn, logger: logger) }
    }

    public func insert(_ agent: Agent, quota: @escaping @Sendable (Tier) -> Int) async throws -> Agent {
        try await inTenant(agent.tenantID) { conn in
            let tier = try await lockTenant(agent.tenantID, on: conn)
            let live = try await Self.count(agent.tenantID, on: conn, logger: logger)
            let limit = quota(tier)
            guard live < limit else { throw ServiceError.quotaReached(tier: tier, limit: limit) }
            let c = agent.config
            let stored = try await Self.uniqueName(c.name) {
                try await Self.single(conn.query("""
                    INSERT INTO agents (id, tenant_id, name, type, status, version, config, validation,
                                        created_at, updated_at, created_by, updated_by)
                    VALUES (\(agent.id), \(agent.tenantID), \(c.name), \(c.type.rawValue), \(c.status.rawValue), \(agent.version),
                            \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb,
                            \(agent.createdAt), \(agent.updatedAt), \(agent.createdBy), \(agent.updatedBy))
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger))
            }
            try await notify(ChangeNotification(kind: .agent, tenantID: agent.tenantID, agentID: agent.id, version: agent.version), on: conn)
            return stored
        }
    }

    public func update(_ id: UUID, tenant: TenantID, _ change: @escaping @Sendable (Agent) async throws -> Agent?) async throws -> AgentWrite {
        try await inTenant(tenant) { conn in
            guard let current = try await fetch(id, tenant: tenant, on: conn, lock: true) else { throw ServiceError.agentNotFound() }
            guard var next = try await change(current) else { return .unchanged(current) }
            next.version = current.version + 1
            let c = next.config
            let stored = try await Self.uniqueName(c.name) {
                try await Self.single(conn.query("""
                    UPDATE agents SET name = \(c.name), type = \(c.type.rawValue), status = \(c.status.rawValue),
                        version = \(next.version), config = \(Self.text(c.json))::jsonb,
                        validation = \(Self.text(next.validation.json))::jsonb,
                        updated_at = \(next.updatedAt), updated_by = \(next.updatedBy)
                    WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger))
            }
            try await notify(ChangeNotification(kind: .agent, tenantID: tenant, agentID: id, version: next.version), on: conn)
            return .updated(stored)
        }
    }

    public func delete(_ id: UUID, tenant: TenantID) async throws -> Bool {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query("""
                UPDATE agents SET deleted_at = now() WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL
                RETURNING version
                """, logger: logger)
            var version: Int?
            for try await v in rows.decode(Int.self) { version = v }
            guard let version else { return false }
            try await notify(ChangeNotification(kind: .agent, tenantID: tenant, agentID: id, version: version, deleted: true), on: conn)
            return true
        }
    }

    public func toolCatalog() async throws -> [ToolDefinition] {
        try await database.run {
            let rows = try await client.query(
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
        try await database.run {
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("DELETE FROM tool_catalog", logger: logger)
                for (position, tool) in tools.enumerated() {
                    try await conn.query("""
                        INSERT INTO tool_catalog (position, id, name, min_tier, required_config)
                        VALUES (\(position), \(tool.id), \(tool.name), \(tool.minTier?.rawValue),
                                \(Self.text(.array(tool.requiredConfig.map(JSONValue.string))))::jsonb)
                        """, logger: logger)
                }
                try await notify(ChangeNotification(kind: .tools), on: conn)
            }
        }
    }

    /// Seeds the catalog from the shipped file the first time the database has none.
    public func seedToolCatalog(_ tools: [ToolDefinition]) async throws {
        let existing = try await toolCatalog()
        if existing.isEmpty && !tools.isEmpty {
            try await replaceToolCatalog(tools)
        }
    }

    // MARK: - Helpers

    private func inTenant<R: Sendable>(_ tenant: TenantID, _ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        try await database.run {
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                return try await body(conn)
            }
        }
    }

    private func fetch(_ id: UUID, tenant: TenantID, on conn: PostgresConnection, lock: Bool) async throws -> Agent? {
        let rows = try await conn.query("""
            SELECT \(unescaped: Self.columns) FROM agents
            WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger: logger)
        var found: Agent?
        for try await row in rows {
            found = try Self.agent(row.makeRandomAccess())
        }
        return found
    }

    /// The agent a write returned: what later reads will see, to the microsecond.
    private static func single(_ rows: PostgresRowSequence) async throws -> Agent {
        for try await row in rows {
            return try agent(row.makeRandomAccess())
        }
        throw ServiceError(.internalError, "Write returned no row")
    }

    private func notify(_ change: ChangeNotification, on conn: PostgresConnection) async throws {
        try await conn.query("SELECT pg_notify(\(Self.channel), \(change.payload))", logger: logger)
    }

    private static func count(_ tenant: TenantID, on conn: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await conn.query(
            "SELECT count(*)::int8 FROM agents WHERE tenant_id = \(tenant) AND deleted_at IS NULL", logger: logger)
        for try await n in rows.decode(Int.self) { return n }
        return 0
    }

    /// Creates the tenant with the default tier when first seen and returns its tier; the no-op
    /// update locks the row, which serializes creates of one tenant so the quota holds.
    private func lockTenant(_ id: TenantID, on conn: PostgresConnection) async throws -> Tier {
        let rows = try await conn.query("""
            INSERT INTO tenants (tenant_id, tier) VALUES (\(id), \(defaultTier.rawValue))
            ON CONFLICT (tenant_id) DO UPDATE SET tier = tenants.tier
            RETURNING tier
            """, logger: logger)
        for try await raw in rows.decode(String.self) {
            if let tier = Tier(rawValue: raw) { return tier }
        }
        throw ServiceError(.internalError, "Tenant tier unreadable")
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
    /// optimizer of Swift 6.3 in release builds).
    private static func agent(_ cells: PostgresRandomAccessRow) throws -> Agent {
        let config = try cells[3].decode(String.self)
        let validation = try cells[4].decode(String.self)
        guard let json = JSONValue.parse(Array(config.utf8)) else { throw ServiceError(.internalError, "Stored agent unreadable") }
        return Agent(
            id: try cells[0].decode(UUID.self), tenantID: try cells[1].decode(String.self), version: try cells[2].decode(Int.self),
            config: try AgentConfig(json: json),
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
