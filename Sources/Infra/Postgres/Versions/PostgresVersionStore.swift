public import Domain
public import Foundation
import Logging
import PostgresNIO

/// `VersionStore` on PostgreSQL: the snapshots and history rows that the agent writes record.
public struct PostgresVersionStore: VersionStore, PostgresStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func versions(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<AgentVersion>? {
        try await inTenant(tenant) { conn in
            guard try await Self.isLive(id, tenant: tenant, on: conn, logger: logger) else { return nil }
            let rows = try await conn.query(
                """
                SELECT version, created_at, created_by, request_id, changes::text FROM agent_versions
                WHERE tenant_id = \(tenant) AND agent_id = \(id) AND (\(before)::bigint IS NULL OR version < \(before))
                ORDER BY version DESC LIMIT \(limit + 1)
                """,
                logger: logger
            )
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
            let rows = try await conn.query(
                """
                SELECT config::text, validation::text, created_at, created_by, request_id, changes::text FROM agent_versions
                WHERE tenant_id = \(tenant) AND agent_id = \(id) AND version = \(version)
                """,
                logger: logger
            )
            for try await (config, validation, at, by, requestID, changes) in rows.decode((String, String, Date, String, String?, String).self) {
                return AgentVersion(
                    version: version,
                    config: try AgentConfig(stored: Self.json(config)),
                    validation: ValidationReport(json: Self.json(validation)),
                    createdAt: at,
                    createdBy: by,
                    requestID: requestID,
                    changes: Self.json(changes)
                )
            }
            return nil
        }
    }

    public func history(of id: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<HistoryEntry> {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT h.seq, h.action, h.actor, h.roles::text, h.at, h.request_id, h.version,
                    coalesce(h.changes, v.changes, 'null')::text, coalesce(h.details, 'null')::text
                FROM agent_history h
                LEFT JOIN agent_versions v ON v.agent_id = h.agent_id AND v.version = h.version
                    AND h.action IN ('created', 'updated', 'rolled_back')
                WHERE h.tenant_id = \(tenant) AND h.agent_id = \(id) AND (\(before)::bigint IS NULL OR h.seq < \(before))
                ORDER BY h.seq DESC LIMIT \(limit + 1)
                """,
                logger: logger
            )
            var items: [(Int64, HistoryEntry)] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                let roles = Self.json(try cells[3].decode(String.self))
                let entry = HistoryEntry(
                    action: HistoryEntry.Action(rawValue: try cells[1].decode(String.self)) ?? .updated,
                    actor: try cells[2].decode(String.self),
                    roles: (roles.arrayValue ?? []).compactMap(\.stringValue),
                    at: try cells[4].decode(Date.self),
                    requestID: try cells[5].decode(String?.self),
                    version: try cells[6].decode(Int?.self),
                    changes: Self.json(try cells[7].decode(String.self)),
                    details: Self.json(try cells[8].decode(String.self))
                )
                items.append((try cells[0].decode(Int64.self), entry))
            }
            let page = Self.page(items, limit: limit) { $0.0 }
            return Page(items: page.items.map(\.1), next: page.next)
        }
    }

    /// The first `limit` items, and the position of the last one when another row came after it.
    private static func page<T>(_ items: [T], limit: Int, position: (T) -> Int64) -> Page<T> {
        guard items.count > limit else { return Page(items: items, next: nil) }
        let kept = Array(items.prefix(limit))
        return Page(items: kept, next: position(kept[limit - 1]))
    }
}
