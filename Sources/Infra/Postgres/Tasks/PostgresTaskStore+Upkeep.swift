public import Domain
public import Foundation
import PostgresNIO

/// The work on tasks across tenants, each a `SECURITY DEFINER` function of the tables' owner: the
/// purge of finished tasks, and the revalidations recorded with their cause until they are queued.
extension PostgresTaskStore {
    public func purgeFinished(retention: Duration) async throws -> Int {
        var total = 0
        while true {
            let purged = try await single { conn in
                let rows = try await conn.query(
                    "SELECT ams_purge_tasks(make_interval(secs => \(retention.seconds)), \(Self.purgeBatch)::int)",
                    logger: logger
                )
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
            total += purged
            if purged < Self.purgeBatch { return total }
        }
    }

    static let purgeBatch = 1000

    public func claimRevalidations(limit: Int, lease: Duration) async throws -> [Revalidation] {
        try await single { conn in
            let rows = try await conn.query(
                """
                SELECT task_id, tenant_id, reason, created_at
                FROM ams_claim_revalidations(\(limit)::int, make_interval(secs => \(lease.seconds)))
                ORDER BY created_at, task_id
                """,
                logger: logger
            )
            var claimed: [Revalidation] = []
            for try await (id, tenant, reason, at) in rows.decode((UUID, String, String, Date).self) {
                claimed.append(Revalidation(taskID: id, tenantID: tenant, reason: reason, recordedAt: at))
            }
            return claimed
        }
    }

    public func settleRevalidations(queued: [UUID], retry: [UUID]) async throws {
        guard !(queued.isEmpty && retry.isEmpty) else { return }
        try await single { conn in
            try await conn.query("SELECT ams_settle_revalidations(\(queued), \(retry))", logger: logger)
        }
    }
}
