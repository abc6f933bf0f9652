public import Domain
public import Foundation
import Logging
import PostgresNIO

/// `AgentStore` on PostgreSQL. Tenant-scoped work first sets `app.tenant_id`, so Row-Level Security
/// confines it even if a query forgot its filter. Writes are single calls of the functions of
/// `Schema/agents.sql` (one round trip, one implicit transaction), whose events announce the change.
public struct PostgresAgentStore: AgentStore, PostgresStore {
    static let columns =
        "id, tenant_id, version, config::text, validation::text, created_at, updated_at, created_by, updated_by, revision, template_id, template_version"

    let database: PostgresDatabase
    /// The tier a tenant's first write stores it with.
    let defaultTier: Tier

    public init(database: PostgresDatabase, defaultTier: Tier) {
        self.database = database
        self.defaultTier = defaultTier
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
            let rows = try await conn.query(
                """
                SELECT \(unescaped: Self.columns), seq FROM agents
                WHERE tenant_id = \(tenant) AND deleted_at IS NULL
                  AND (\(q.after)::bigint IS NULL OR seq < \(q.after))
                  AND (\(q.status?.rawValue)::text IS NULL OR status = \(q.status?.rawValue))
                  AND (\(q.type?.rawValue)::text IS NULL OR type = \(q.type?.rawValue))
                  AND (\(q.tag)::text IS NULL OR tags ? \(q.tag))
                  AND (\(pattern)::text IS NULL OR name ILIKE \(pattern) OR (config ->> 'description') ILIKE \(pattern))
                ORDER BY seq DESC
                LIMIT \(q.limit + 1)
                """,
                logger: logger
            )
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

    public func agents(_ ids: [UUID], tenant: TenantID) async throws -> [Agent] {
        guard !ids.isEmpty else { return [] }
        return try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT \(unescaped: Self.columns) FROM agents
                WHERE tenant_id = \(tenant) AND id = ANY(\(ids)) AND deleted_at IS NULL
                """,
                logger: logger
            )
            var agents: [Agent] = []
            for try await row in rows { agents.append(try Self.agent(row.makeRandomAccess())) }
            return agents
        }
    }

    /// Decodes the `columns` list column by column (the tuple form of `decode` crashes the
    /// optimizer of Swift 6.3 in release builds). Stored configurations are read leniently: a row
    /// written by a newer release may carry fields this one does not know.
    static func agent(_ cells: PostgresRandomAccessRow) throws -> Agent {
        let config = try cells[3].decode(String.self)
        let validation = try cells[4].decode(String.self)
        guard let json = JSONValue.parse(Array(config.utf8)) else { throw ServiceError(.internalError, "Stored agent unreadable") }
        return Agent(
            id: try cells[0].decode(UUID.self),
            tenantID: try cells[1].decode(String.self),
            version: try cells[2].decode(Int.self),
            config: try AgentConfig(stored: json),
            validation: ValidationReport(json: JSONValue.parse(Array(validation.utf8)) ?? .null),
            createdAt: try cells[5].decode(Date.self),
            updatedAt: try cells[6].decode(Date.self),
            createdBy: try cells[7].decode(String.self),
            updatedBy: try cells[8].decode(String.self),
            revision: try cells[9].decode(Int.self),
            templateID: try cells[10].decode(String?.self),
            templateVersion: try cells[11].decode(Int?.self)
        )
    }

    private static func escapeLike(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
