public import Domain
public import Foundation
import PostgresNIO

/// `TemplateStore` on PostgreSQL: a tenant's own templates, each write in a transaction confined to the tenant.
public struct PostgresTemplateStore: TemplateStore, PostgresStore {
    static let templateColumns =
        "id, tenant_id, name, description, category, type, config::text, version, created_at, updated_at, created_by, updated_by"

    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func templates(tenant: TenantID, category: String?, type: AgentType?, limit: Int, before: Int64?) async throws -> Page<Template> {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT \(unescaped: Self.templateColumns), seq,
                    coalesce((SELECT count FROM template_usage u WHERE u.tenant_id = t.tenant_id AND u.template_id = t.id::text), 0)
                FROM agent_templates t
                WHERE tenant_id = \(tenant) AND (\(before)::bigint IS NULL OR seq < \(before))
                  AND (\(category)::text IS NULL OR category = \(category))
                  AND (\(type?.rawValue)::text IS NULL OR type = \(type?.rawValue))
                ORDER BY seq DESC LIMIT \(limit + 1)
                """,
                logger: logger
            )
            var items: [(Int64, Template)] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                var template = try Self.template(cells)
                template.usageCount = try cells[13].decode(Int.self)
                items.append((try cells[12].decode(Int64.self), template))
            }
            guard items.count > limit else { return Page(items: items.map(\.1), next: nil) }
            let kept = items.prefix(limit)
            return Page(items: kept.map(\.1), next: kept.last?.0)
        }
    }

    public func template(_ id: UUID, tenant: TenantID) async throws -> Template? {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT \(unescaped: Self.templateColumns), 0::bigint,
                    coalesce((SELECT count FROM template_usage u WHERE u.tenant_id = t.tenant_id AND u.template_id = t.id::text), 0)
                FROM agent_templates t WHERE tenant_id = \(tenant) AND id = \(id)
                """,
                logger: logger
            )
            for try await row in rows {
                let cells = row.makeRandomAccess()
                var template = try Self.template(cells)
                template.usageCount = try cells[13].decode(Int.self)
                return template
            }
            return nil
        }
    }

    public func insertTemplate(_ t: Template) async throws {
        guard let tenant = t.tenantID, let id = UUID(uuidString: t.id) else { throw ServiceError(.internalError, "Only tenant templates are stored") }
        let config = Self.text(t.config)
        try await inTenant(tenant) { conn in
            try await Self.uniqueTemplateName(t.name) {
                try await conn.query(
                    """
                    INSERT INTO agent_templates (id, tenant_id, name, description, category, type, config, version,
                        created_at, updated_at, created_by, updated_by)
                    VALUES (\(id), \(tenant), \(t.name), \(t.description), \(t.category), \(t.type.rawValue), \(config)::jsonb,
                        \(t.version), \(t.createdAt ?? .now), \(t.updatedAt ?? .now), \(t.createdBy ?? ""), \(t.updatedBy ?? ""))
                    """,
                    logger: logger
                )
            }
        }
    }

    public func updateTemplate(_ t: Template) async throws -> Bool {
        guard let tenant = t.tenantID, let id = UUID(uuidString: t.id) else { return false }
        let config = Self.text(t.config)
        return try await inTenant(tenant) { conn in
            try await Self.uniqueTemplateName(t.name) {
                let rows = try await conn.query(
                    """
                    UPDATE agent_templates SET name = \(t.name), description = \(t.description), category = \(t.category),
                        type = \(t.type.rawValue), config = \(config)::jsonb, version = \(t.version), updated_at = \(t.updatedAt ?? .now),
                        updated_by = \(t.updatedBy ?? "")
                    WHERE tenant_id = \(tenant) AND id = \(id) AND version = \(t.version - 1)
                    RETURNING 1
                    """,
                    logger: logger
                )
                for try await _ in rows { return true }
                return false
            }
        }
    }

    public func deleteTemplate(_ id: UUID, tenant: TenantID) async throws -> Bool {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                "DELETE FROM agent_templates WHERE tenant_id = \(tenant) AND id = \(id) RETURNING 1",
                logger: logger
            )
            for try await _ in rows { return true }
            return false
        }
    }

    public func usage(of ids: [String], tenant: TenantID) async throws -> [String: Int] {
        guard !ids.isEmpty else { return [:] }
        return try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                "SELECT template_id, count FROM template_usage WHERE tenant_id = \(tenant) AND template_id = ANY(\(ids))",
                logger: logger
            )
            var counts: [String: Int] = [:]
            for try await (id, count) in rows.decode((String, Int).self) { counts[id] = count }
            return counts
        }
    }

    /// Decodes `templateColumns` column by column (see `PostgresAgentStore.agent(_:)`).
    private static func template(_ cells: PostgresRandomAccessRow) throws -> Template {
        Template(
            id: try cells[0].decode(UUID.self).uuidString.lowercased(),
            tenantID: try cells[1].decode(String.self),
            name: try cells[2].decode(String.self),
            description: try cells[3].decode(String?.self),
            category: try cells[4].decode(String.self),
            type: AgentType(rawValue: try cells[5].decode(String.self)),
            config: json(try cells[6].decode(String.self)),
            version: try cells[7].decode(Int.self),
            createdAt: try cells[8].decode(Date.self),
            updatedAt: try cells[9].decode(Date.self),
            createdBy: try cells[10].decode(String.self),
            updatedBy: try cells[11].decode(String.self)
        )
    }

    private static func uniqueTemplateName<R>(_ name: String, _ write: () async throws -> R) async throws -> R {
        do {
            return try await write()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ServiceError(.nameConflict, "A template with this name already exists", details: ["name": .string(name)])
        }
    }
}
