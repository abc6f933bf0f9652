public import Domain
public import Foundation
import PostgresNIO

/// `TaskDeadLetterStore` on PostgreSQL: `tasks.dead_lettered_at` (migration 12), null until written.
extension PostgresTaskStore: TaskDeadLetterStore {
    public func deadLettersOwed(_ ids: [UUID], tenant: TenantID) async throws -> Set<UUID> {
        guard !ids.isEmpty else { return [] }
        return try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT id FROM tasks
                WHERE tenant_id = \(tenant) AND id = ANY(\(ids)) AND status = 'failed' AND dead_lettered_at IS NULL
                """,
                logger: logger
            )
            var owed = Set<UUID>()
            for try await id in rows.decode(UUID.self) { owed.insert(id) }
            return owed
        }
    }

    public func recordDeadLetters(_ ids: [UUID], tenant: TenantID) async throws {
        guard !ids.isEmpty else { return }
        try await inTenant(tenant) { conn in
            try await conn.query(
                """
                UPDATE tasks SET dead_lettered_at = now()
                WHERE tenant_id = \(tenant) AND id = ANY(\(ids)) AND dead_lettered_at IS NULL
                """,
                logger: logger
            )
        }
    }
}
