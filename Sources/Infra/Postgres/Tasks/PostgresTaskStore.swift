public import Domain
public import Foundation
import PostgresNIO

/// `TaskStore` on PostgreSQL: batch starts and finishes are single calls of functions that record the task events too.
/// A running task's result is read as `ams_task_result` puts it together from its reported steps.
public struct PostgresTaskStore: TaskStore, PostgresStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    @discardableResult
    public func recordPending(_ task: TaskMessage) async throws -> Bool {
        let message = Self.text(task.json)
        return try await inTenant(task.tenantID) { conn in
            let rows = try await conn.query(
                """
                INSERT INTO tasks (tenant_id, id, type, status, message) VALUES (\(task.tenantID), \(task.taskID), \(task.type.rawValue), 'pending', \(message)::jsonb)
                ON CONFLICT (tenant_id, id) DO NOTHING RETURNING 1
                """,
                logger: logger
            )
            for try await _ in rows { return true }
            return false
        }
    }

    public func release(_ ids: [UUID], tenant: TenantID) async throws {
        try await inTenant(tenant) { conn in
            try await conn.query(
                """
                UPDATE tasks SET status = 'pending', attempts = greatest(attempts - 1, 0), updated_at = now()
                WHERE tenant_id = \(tenant) AND id = ANY(\(ids)) AND status = 'processing'
                """,
                logger: logger
            )
        }
    }

    public func discardPending(_ id: UUID, tenant: TenantID) async throws {
        try await inTenant(tenant) { conn in
            try await conn.query("DELETE FROM tasks WHERE tenant_id = \(tenant) AND id = \(id) AND status = 'pending'", logger: logger)
        }
    }

    public func start(_ tasks: [TaskMessage], tenant: TenantID) async throws -> [UUID: TaskRecord] {
        let messages = tasks.map { Self.text($0.json) }
        let byID = Dictionary(tasks.map { ($0.taskID, $0) }, uniquingKeysWith: { first, _ in first })
        return try await single { conn in
            let rows = try await conn.query(
                """
                SELECT task_id, status, attempts, progress, checkpoint, result, error, updated_at FROM ams_start_tasks(\(tenant), \(messages))
                """,
                logger: logger
            )
            var records: [UUID: TaskRecord] = [:]
            for try await row in rows {
                // The messages are the ones given: only the state is read back.
                let cells = row.makeRandomAccess()
                let id = try cells[0].decode(UUID.self)
                guard let message = byID[id] else { continue }
                records[id] = try Self.task(cells, message: message)
            }
            return records
        }
    }

    public func progress(_ id: UUID, tenant: TenantID, progress: Int, checkpoint: Int64?, details: JSONValue?) async throws {
        let details = details.map(Self.text)
        try await single { conn in
            try await conn.query(
                "SELECT ams_task_progress(\(tenant), \(id), \(progress)::int, \(checkpoint)::bigint, \(details)::jsonb)",
                logger: logger
            )
        }
    }

    public func finish(_ outcomes: [(id: UUID, outcome: TaskOutcome)], tenant: TenantID) async throws {
        guard !outcomes.isEmpty else { return }
        let ids = outcomes.map(\.id)
        let statuses = outcomes.map { o -> String in
            if case .completed = o.outcome { return TaskStatus.completed.rawValue }
            return TaskStatus.failed.rawValue
        }
        let results = outcomes.map { o -> String in
            if case .completed(let result) = o.outcome { return Self.text(result) }
            return ""
        }
        let errors = outcomes.map { $0.outcome.errorJSON.map(Self.text) ?? "" }
        try await single { conn in
            try await conn.query("SELECT ams_finish_tasks(\(tenant), \(ids), \(statuses), \(results), \(errors))", logger: logger)
        }
    }

    public func task(_ id: UUID, tenant: TenantID) async throws -> TaskRecord? {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT message::text, status, attempts, progress, checkpoint, ams_task_result(tenant_id, id, result)::text, error::text, updated_at
                FROM tasks WHERE tenant_id = \(tenant) AND id = \(id)
                """,
                logger: logger
            )
            for try await row in rows { return try Self.task(row.makeRandomAccess()) }
            return nil
        }
    }

    public func tasks(tenant: TenantID, status: TaskStatus?, type: TaskType?, limit: Int, before: Int64?) async throws -> Page<TaskRecord> {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT message::text, status, attempts, progress, checkpoint, ams_task_result(tenant_id, id, result)::text, error::text, updated_at, seq
                FROM tasks
                WHERE tenant_id = \(tenant) AND (\(before)::bigint IS NULL OR seq < \(before))
                  AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                  AND (\(type?.rawValue)::text IS NULL OR type = \(type?.rawValue))
                ORDER BY seq DESC LIMIT \(limit + 1)
                """,
                logger: logger
            )
            var items: [TaskRecord] = []
            var positions: [Int64] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                items.append(try Self.task(cells))
                positions.append(try cells[8].decode(Int64.self))
            }
            guard items.count > limit else { return Page(items: items, next: nil) }
            return Page(items: Array(items.prefix(limit)), next: positions[limit - 1])
        }
    }

    /// Decoded column by column (see the package notes on wide tuple decodes).
    static func task(_ cells: PostgresRandomAccessRow, message known: TaskMessage? = nil) throws -> TaskRecord {
        let message = try known ?? TaskMessage(json: json(try cells[0].decode(String.self)))
        guard let status = TaskStatus(rawValue: try cells[1].decode(String.self)) else {
            throw ServiceError(.internalError, "Stored task unreadable")
        }
        return TaskRecord(
            message: message,
            status: status,
            attempts: try cells[2].decode(Int.self),
            progress: try cells[3].decode(Int.self),
            result: try cells[5].decode(String?.self).map(json),
            error: try cells[6].decode(String?.self).map(json),
            checkpoint: try cells[4].decode(Int64?.self),
            updatedAt: try cells[7].decode(Date.self)
        )
    }
}
