public import Domain
public import Foundation
import Logging
import PostgresNIO

/// `AliasStore` on PostgreSQL: an alias moves, and its history entry is written, in one tenant transaction.
public struct PostgresAliasStore: AliasStore, PostgresStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func aliases(of id: UUID, tenant: TenantID) async throws -> [AgentAlias]? {
        try await inTenant(tenant) { conn in
            guard try await Self.isLive(id, tenant: tenant, on: conn, logger: logger) else { return nil }
            let rows = try await conn.query(
                """
                SELECT name, version, updated_at, updated_by FROM agent_aliases
                WHERE tenant_id = \(tenant) AND agent_id = \(id) ORDER BY name
                """,
                logger: logger
            )
            var aliases: [AgentAlias] = []
            for try await (name, version, at, by) in rows.decode((String, Int, Date, String).self) {
                aliases.append(AgentAlias(name: name, version: version, updatedAt: at, updatedBy: by))
            }
            return aliases
        }
    }

    public func setAlias(_ alias: String, of id: UUID, to version: Int, tenant: TenantID, audit: Audit) async throws -> AgentAlias? {
        let now = Date.now
        let roles = Self.text(.array(audit.roles.map(JSONValue.string)))
        return try await inTenant(tenant) { conn in
            // The row stays live until commit: a purge cannot take it (and its versions) from under the alias.
            let live = try await conn.query(
                "SELECT 1 FROM agents WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL FOR KEY SHARE",
                logger: logger
            )
            var isLive = false
            for try await _ in live { isLive = true }
            guard isLive else { return nil }
            let exists = try await conn.query(
                "SELECT 1 FROM agent_versions WHERE tenant_id = \(tenant) AND agent_id = \(id) AND version = \(version)",
                logger: logger
            )
            var found = false
            for try await _ in exists { found = true }
            guard found else { throw ServiceError.versionNotFound(version) }
            var previous: Int?
            let old = try await conn.query(
                "SELECT version FROM agent_aliases WHERE agent_id = \(id) AND name = \(alias) FOR UPDATE",
                logger: logger
            )
            for try await v in old.decode(Int.self) { previous = v }
            try await conn.query(
                """
                INSERT INTO agent_aliases (tenant_id, agent_id, name, version, updated_at, updated_by)
                VALUES (\(tenant), \(id), \(alias), \(version), \(now), \(audit.actor))
                ON CONFLICT (agent_id, name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,
                    updated_by = excluded.updated_by
                """,
                logger: logger
            )
            let details = Self.text(.object(["alias": .string(alias), "from": previous.map(JSONValue.int) ?? .null, "to": .int(version)]))
            try await conn.query(
                """
                SELECT ams_record(\(tenant), \(id), 'alias_moved', \(audit.actor), \(roles)::jsonb, \(now), \(audit.requestID),
                    \(version)::int, NULL, \(details)::jsonb)
                """,
                logger: logger
            )
            return AgentAlias(name: alias, version: version, updatedAt: now, updatedBy: audit.actor)
        }
    }

    public func removeAlias(_ alias: String, of id: UUID, tenant: TenantID, audit: Audit) async throws -> Bool {
        let now = Date.now
        let roles = Self.text(.array(audit.roles.map(JSONValue.string)))
        return try await inTenant(tenant) { conn in
            guard try await Self.isLive(id, tenant: tenant, on: conn, logger: logger) else { return false }
            let removed = try await conn.query(
                "DELETE FROM agent_aliases WHERE agent_id = \(id) AND name = \(alias) RETURNING version",
                logger: logger
            )
            var previous: Int?
            for try await v in removed.decode(Int.self) { previous = v }
            guard let previous else { return false }
            let details = Self.text(.object(["alias": .string(alias), "from": .int(previous), "to": .null]))
            try await conn.query(
                """
                SELECT ams_record(\(tenant), \(id), 'alias_moved', \(audit.actor), \(roles)::jsonb, \(now), \(audit.requestID),
                    NULL::int, NULL, \(details)::jsonb)
                """,
                logger: logger
            )
            return true
        }
    }
}
