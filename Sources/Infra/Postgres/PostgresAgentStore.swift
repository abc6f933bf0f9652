public import Domain
public import Foundation
public import Logging
public import PostgresNIO

/// `AgentStore` on PostgreSQL. Tenant-scoped work first sets `app.tenant_id`, so Row-Level Security
/// confines it even if a query forgot its filter. Writes are single calls of the functions of
/// migration 2 (one round trip, one implicit transaction) that also `NOTIFY` the change.
public struct PostgresAgentStore: AgentStore {
    public static let channel = "agent_management_changes"
    static let columns = "id, tenant_id, version, config::text, validation::text, created_at, updated_at, created_by, updated_by, revision, template_id, template_version"

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
                  AND (\(q.tag)::text IS NULL OR tags ? \(q.tag))
                  AND (\(pattern)::text IS NULL OR name ILIKE \(pattern) OR (config ->> 'description') ILIKE \(pattern))
                ORDER BY seq DESC
                LIMIT \(q.limit + 1)
                """, logger: logger)
            var items: [Agent] = []
            var positions: [Int64] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                items.append(try Self.agent(cells))
                positions.append(try cells[12].decode(Int64.self))
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

    public func insert(_ agent: Agent, quota: AgentQuota, audit: Audit) async throws {
        try await single { conn in try await createRow(agent, quota: quota, audit: audit, on: conn) }
    }

    public func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool {
        try await single { conn in try await updateRow(agent, from: revision, action: action, changes: changes, audit: audit, on: conn) }
    }

    public func updateLocked(
        _ id: UUID, tenant: TenantID, action: HistoryEntry.Action, audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)?
    ) async throws -> (current: Agent, next: Agent?)? {
        try await single { conn in
            try await conn.transaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                let rows = try await conn.query("""
                    SELECT \(unescaped: Self.columns) FROM agents
                    WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL FOR UPDATE
                    """, logger: logger)
                var found: Agent?
                for try await row in rows { found = try Self.agent(row.makeRandomAccess()) }
                guard let current = found else { return nil }
                guard let (next, changes) = try await change(current) else { return (current, nil) }
                guard try await updateRow(next, from: current.revision, action: action, changes: changes, audit: audit, on: conn) else {
                    throw ServiceError(.databaseUnavailable, "The agent changed while it was locked for this write; retry")
                }
                return (current, next)
            }
        }
    }

    /// Deletes first (they free names and quota), then updates, then creates, in one transaction:
    /// a refusal of any step (quota, name, a row another writer moved on) leaves nothing written.
    public func apply(creates: [Agent], updates: [(agent: Agent, from: Int, changes: JSONValue)], deletes: [UUID], tenant: TenantID,
                      quota: AgentQuota, audit: Audit) async throws {
        try await single(timeout: Self.applyTimeout) { conn in
            try await conn.transaction(logger: logger) { conn in
                // The tenant first, as every single write that takes it does: no lock cycle with them.
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                try await conn.query("SELECT 1 FROM tenants WHERE tenant_id = \(tenant) FOR UPDATE", logger: logger)
                for id in deletes {
                    let rows = try await conn.query("""
                        SELECT deleted FROM ams_delete_agent(\(tenant), \(id), NULL::int, \(Date.now), \(audit.actor),
                            \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID))
                        """, logger: logger)
                    var deleted = false
                    for try await done in rows.decode(Bool.self) { deleted = done }
                    guard deleted else { throw Self.movedOn }
                }
                for update in updates {
                    guard try await updateRow(update.agent, from: update.from, action: .updated, changes: update.changes, audit: audit, on: conn) else {
                        throw Self.movedOn
                    }
                }
                for agent in creates { try await createRow(agent, quota: quota, audit: audit, on: conn) }
            }
        }
    }

    /// An apply writes up to 500 agents in one transaction; each statement still has `AMS_DB_TIMEOUT`.
    static let applyTimeout = Duration.seconds(30)

    static let movedOn = ServiceError(.databaseUnavailable, "An agent changed while the apply was written; retry")

    private func createRow(_ agent: Agent, quota: AgentQuota, audit: Audit, on conn: Connection) async throws {
        let c = agent.config
        let limits = JSONValue.object(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, JSONValue.int(quota[$0])) }))
        let changes = JSONValue.array(JSONPatch.diff(.object([:]), c.versionedJSON).map(\.json))
        let full = try await Self.uniqueName(c.name) {
            let rows = try await conn.query("""
                SELECT ams_create_agent(\(agent.tenantID), \(defaultTier.rawValue), \(Self.text(limits))::jsonb,
                    \(agent.id), \(c.name), \(c.type.rawValue), \(c.status.rawValue),
                    \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb, \(agent.createdAt), \(agent.createdBy),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID), \(Self.text(changes))::jsonb,
                    \(agent.templateID), \(agent.templateVersion)::int)
                """, logger: logger)
            for try await tier in rows.decode(String?.self) { return tier }
            throw ServiceError(.internalError, "Create returned no row")
        }
        if let full {
            let tier = Tier(rawValue: full) ?? defaultTier
            throw ServiceError.quotaReached(tier: tier, limit: quota[tier])
        }
    }

    private func updateRow(
        _ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit, on conn: Connection
    ) async throws -> Bool {
        let c = agent.config
        return try await Self.uniqueName(c.name) {
            let rows = try await conn.query("""
                SELECT ams_update_agent(\(agent.tenantID), \(agent.id), \(revision)::int, \(c.name), \(c.type.rawValue),
                    \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb, \(agent.updatedAt), \(agent.updatedBy),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID), \(action.rawValue), \(Self.text(changes))::jsonb)
                """, logger: logger)
            for try await version in rows.decode(Int?.self) { return version == agent.version }
            return false
        }
    }

    public func setStatus(_ agent: Agent, from revision: Int, previous: AgentStatus, reason: String?, audit: Audit) async throws -> Bool {
        var details: [String: JSONValue] = ["from": .string(previous.rawValue), "to": .string(agent.config.status.rawValue)]
        if let reason { details["reason"] = .string(reason) }
        let detailsText = Self.text(.object(details))
        return try await single { conn in
            let rows = try await conn.query("""
                SELECT ams_set_agent_status(\(agent.tenantID), \(agent.id), \(revision)::int, \(agent.config.status.rawValue),
                    \(Self.text(agent.config.json))::jsonb, \(agent.updatedAt), \(agent.updatedBy),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID), \(detailsText)::jsonb)
                """, logger: logger)
            for try await written in rows.decode(Bool.self) { return written }
            return false
        }
    }

    public func delete(_ id: UUID, tenant: TenantID, ifVersion version: Int?, audit: Audit) async throws -> DeleteOutcome {
        try await single { conn in
            let rows = try await conn.query("""
                SELECT deleted, version FROM ams_delete_agent(\(tenant), \(id), \(version)::int, \(Date.now), \(audit.actor),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID))
                """, logger: logger)
            for try await (deleted, current) in rows.decode((Bool, Int).self) {
                return deleted ? .deleted(version: current) : .stale(current: current)
            }
            return .missing
        }
    }

    public func restore(_ id: UUID, tenant: TenantID, retention: Duration, quota: AgentQuota, audit: Audit) async throws -> Agent? {
        let limits = JSONValue.object(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, JSONValue.int(quota[$0])) }))
        let outcome = try await single { conn in
            try await Self.uniqueName(nil) {
                let rows = try await conn.query("""
                    SELECT ams_restore_agent(\(tenant), \(defaultTier.rawValue), \(Self.text(limits))::jsonb, \(id),
                        make_interval(secs => \(retention.seconds)), \(Date.now), \(audit.actor),
                        \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID))
                    """, logger: logger)
                for try await outcome in rows.decode(String.self) { return outcome }
                throw ServiceError(.internalError, "Restore returned no row")
            }
        }
        switch outcome {
        case "restored": return try await agent(id, tenant: tenant)
        case "missing": return nil
        default:
            let tier = Tier(rawValue: outcome) ?? defaultTier
            throw ServiceError.quotaReached(tier: tier, limit: quota[tier])
        }
    }

    public func purgeDeleted(retention: Duration) async throws -> Int {
        var total = 0
        while true {
            let purged = try await single { conn in
                let rows = try await conn.query(
                    "SELECT ams_purge_deleted(make_interval(secs => \(retention.seconds)), \(Self.purgeBatch)::int)", logger: logger)
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
            total += purged
            if purged < Self.purgeBatch { return total }
        }
    }

    static let purgeBatch = 500

    public func versions(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<AgentVersion>? {
        try await inTenant(tenant) { conn in
            guard try await Self.isLive(id, tenant: tenant, on: conn, logger: logger) else { return nil }
            let rows = try await conn.query("""
                SELECT version, created_at, created_by, request_id, changes::text FROM agent_versions
                WHERE tenant_id = \(tenant) AND agent_id = \(id) AND (\(before)::bigint IS NULL OR version < \(before))
                ORDER BY version DESC LIMIT \(limit + 1)
                """, logger: logger)
            var items: [AgentVersion] = []
            for try await (version, at, by, requestID, changes) in rows.decode((Int, Date, String, String?, String).self) {
                items.append(AgentVersion(version: version, createdAt: at, createdBy: by, requestID: requestID, changes: Self.json(changes)))
            }
            return Self.page(items, limit: limit) { Int64($0.version) }
        }
    }

    public func version(_ version: Int, of id: UUID, tenant: TenantID) async throws -> AgentVersion? {
        try await inTenant(tenant) { conn in
            guard try await Self.isLive(id, tenant: tenant, on: conn, logger: logger) else { return nil }
            let rows = try await conn.query("""
                SELECT config::text, validation::text, created_at, created_by, request_id, changes::text FROM agent_versions
                WHERE tenant_id = \(tenant) AND agent_id = \(id) AND version = \(version)
                """, logger: logger)
            for try await (config, validation, at, by, requestID, changes) in rows.decode((String, String, Date, String, String?, String).self) {
                return AgentVersion(
                    version: version, config: try AgentConfig(stored: Self.json(config)), validation: ValidationReport(json: Self.json(validation)),
                    createdAt: at, createdBy: by, requestID: requestID, changes: Self.json(changes))
            }
            return nil
        }
    }

    public func history(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<HistoryEntry> {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query("""
                SELECT h.seq, h.action, h.actor, h.roles::text, h.at, h.request_id, h.version,
                    coalesce(h.changes, v.changes, 'null')::text, coalesce(h.details, 'null')::text
                FROM agent_history h
                LEFT JOIN agent_versions v ON v.agent_id = h.agent_id AND v.version = h.version
                    AND h.action IN ('created', 'updated', 'rolled_back')
                WHERE h.tenant_id = \(tenant) AND h.agent_id = \(id) AND (\(before)::bigint IS NULL OR h.seq < \(before))
                ORDER BY h.seq DESC LIMIT \(limit + 1)
                """, logger: logger)
            var items: [(Int64, HistoryEntry)] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                let roles = Self.json(try cells[3].decode(String.self))
                let entry = HistoryEntry(
                    action: HistoryEntry.Action(rawValue: try cells[1].decode(String.self)) ?? .updated,
                    actor: try cells[2].decode(String.self),
                    roles: (roles.arrayValue ?? []).compactMap(\.stringValue),
                    at: try cells[4].decode(Date.self), requestID: try cells[5].decode(String?.self),
                    version: try cells[6].decode(Int?.self), changes: Self.json(try cells[7].decode(String.self)),
                    details: Self.json(try cells[8].decode(String.self)))
                items.append((try cells[0].decode(Int64.self), entry))
            }
            let page = Self.page(items, limit: limit) { $0.0 }
            return Page(items: page.items.map(\.1), next: page.next)
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
            try await conn.transaction(logger: logger) { conn in try await write(tools, on: conn) }
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

    /// "AMS2" as an integer; the migrator holds "AMS1".
    static let seedLockKey: Int64 = 0x414D_5332

    private func write(_ tools: [ToolDefinition], on conn: Connection) async throws {
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
            try await client.withConnection { raw in
                let conn = try lease.hold(raw)
                defer { lease.release() }
                for try await _ in try await conn.query("SELECT 1", logger: logger) {}
            }
        }
    }

    // MARK: - Helpers

    /// One guarded call on one leased connection. A connection closed while it sat in the pool (a
    /// deadline closed it under an earlier call, and the pool has not noticed yet) is handed back
    /// for another, before anything is sent on it.
    func single<R: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (Connection) async throws -> R) async throws -> R {
        try await database.run(timeout: timeout) { lease in
            while true {
                let result: R? = try await client.withConnection { raw in
                    guard !raw.isClosed else { return nil }
                    let conn = try lease.hold(raw)
                    defer { lease.release() }
                    return try await body(conn)
                }
                if let result { return result }
                await Task.yield()
            }
        }
    }

    func inTenant<R: Sendable>(_ tenant: TenantID, _ body: @escaping @Sendable (Connection) async throws -> R) async throws -> R {
        try await single { conn in
            try await conn.transaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                return try await body(conn)
            }
        }
    }

    /// Turns the unique-index violation into the documented conflict, naming the name when known.
    private static func uniqueName<R>(_ name: String?, _ write: () async throws -> R) async throws -> R {
        do {
            return try await write()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && error.serverInfo?[.constraintName] == "agents_live_name" {
            guard let name else { throw ServiceError(.nameConflict, "A live agent already has this agent's name") }
            throw ServiceError.nameConflict(name)
        }
    }

    static func isLive(_ id: UUID, tenant: TenantID, on conn: Connection, logger: Logger) async throws -> Bool {
        let rows = try await conn.query(
            "SELECT 1 FROM agents WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The first `limit` items, and the position of the last one when another row came after it.
    private static func page<T>(_ items: [T], limit: Int, position: (T) -> Int64) -> Page<T> {
        guard items.count > limit else { return Page(items: items, next: nil) }
        let kept = Array(items.prefix(limit))
        return Page(items: kept, next: position(kept[limit - 1]))
    }

    private static func roles(_ audit: Audit) -> JSONValue { .array(audit.roles.map(JSONValue.string)) }

    static func json(_ text: String) -> JSONValue { JSONValue.parse(Array(text.utf8)) ?? .null }


    /// Decodes the `columns` list column by column (the tuple form of `decode` crashes the
    /// optimizer of Swift 6.3 in release builds). Stored configurations are read leniently: a row
    /// written by a newer release may carry fields this one does not know.
    static func agent(_ cells: PostgresRandomAccessRow) throws -> Agent {
        let config = try cells[3].decode(String.self)
        let validation = try cells[4].decode(String.self)
        guard let json = JSONValue.parse(Array(config.utf8)) else { throw ServiceError(.internalError, "Stored agent unreadable") }
        return Agent(
            id: try cells[0].decode(UUID.self), tenantID: try cells[1].decode(String.self), version: try cells[2].decode(Int.self),
            config: try AgentConfig(stored: json),
            validation: ValidationReport(json: JSONValue.parse(Array(validation.utf8)) ?? .null),
            createdAt: try cells[5].decode(Date.self), updatedAt: try cells[6].decode(Date.self),
            createdBy: try cells[7].decode(String.self), updatedBy: try cells[8].decode(String.self),
            revision: try cells[9].decode(Int.self),
            templateID: try cells[10].decode(String?.self), templateVersion: try cells[11].decode(Int?.self)
        )
    }

    static func text(_ json: JSONValue) -> String { String(decoding: json.encoded, as: UTF8.self) }

    private static func escapeLike(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
