import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// A long task's progress is stored as it goes, each report holding only what it adds: the bytes
/// written grow with the agents done, not with their square. `GET /v1/tasks/{id}` still shows the
/// whole result so far.
@Suite struct BulkProgressTests {
    /// 100 agents, a report every 25: the reports' `updated` lists, one after another, are the
    /// result's list, each agent once.
    @Test func eachProgressReportCarriesOnlyWhatItAdds() async throws {
        let q = try await TestQueues()
        try await q.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let admin = try await Caller.make(client, tenant: tenant)
            for i in 0..<100 { _ = try await admin.create("bulk-\(i)", #""tags":["bulk"]"#) }
            let accepted = try await admin.send(
                .post,
                "/v1/agents/bulk-update",
                json: #"{"filter":{"tag":"bulk"},"patch":{"description":"patched"}}"#
            )
            let id = try #require(try accepted.json()["task_id"]?.stringValue)
            let done = try await q.finished(admin, id, within: 60)
            #expect(done["status"] == .string("completed"), "\(done)")
            let result = try #require(done["result"])
            let updated = try result["updated"]?.items() ?? []
            #expect(updated.count == 100)

            let reports = try await Self.progressReports(of: id, tenant: tenant)
            #expect(reports.count == 4, "a report every 25 agents")
            #expect(reports.flatMap { $0["updated"]?.arrayValue ?? [] } == updated, "each agent is reported once, in order")
            #expect(reports.allSatisfy { $0["matched"] == .int(100) })
            let written = reports.map(\.encoded.count).reduce(0, +)
            #expect(written <= result.encoded.count + reports.count * 100, "reports cost what they add: \(written) bytes")
        }
    }

    /// While a task runs, its result is its reports put together (arrays appended, the rest
    /// replaced), in the task, in the list and in the start of a redelivery that resumes it; its
    /// finish stores the result whole and drops the reports.
    @Test func aRunningTasksResultIsItsReportsInOrder() async throws {
        try await withDatabase { client in
            let logger = Logger(label: "test")
            let store = PostgresStores(client: client, defaultTier: .free, logger: logger).tasks
            let tenant = TestSupport.tenant()
            let task = TaskMessage(tenantID: tenant, type: .bulkUpdate, payload: ["filter": .object([:]), "patch": .object([:])])
            _ = try await store.start([task], tenant: tenant)
            func report(_ matched: Int, updated: [String], skipped: [String]) -> JSONValue {
                .object([
                    "matched": .int(matched), "updated": .array(updated.map(JSONValue.string)),
                    "skipped": .array(skipped.map { .object(["agent_id": .string($0)]) }),
                ])
            }
            try await store.progress(task.taskID, tenant: tenant, progress: 40, checkpoint: nil, details: report(3, updated: ["a"], skipped: []))
            try await store.progress(task.taskID, tenant: tenant, progress: 80, checkpoint: 7, details: report(3, updated: ["b"], skipped: ["c"]))
            let sofar = report(3, updated: ["a", "b"], skipped: ["c"])

            let running = try #require(try await store.task(task.taskID, tenant: tenant))
            #expect(running.status == .processing && running.progress == 80 && running.checkpoint == 7)
            #expect(running.result == sofar, "\(running.result ?? .null)")
            #expect(try await store.tasks(tenant: tenant, status: nil, type: nil, limit: 10, before: nil).items.first?.result == sofar)
            try await store.release([task.taskID], tenant: tenant)
            #expect(try await store.start([task], tenant: tenant)[task.taskID]?.result == sofar, "a redelivery resumes from the reports")

            let whole = report(3, updated: ["a", "b"], skipped: ["c"])
            try await store.finish([(task.taskID, .completed(whole))], tenant: tenant)
            let finished = try #require(try await store.task(task.taskID, tenant: tenant))
            #expect(finished.status == .completed && finished.result == whole)
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                let rows = try await conn.query("SELECT count(*)::int FROM task_steps WHERE task_id = \(task.taskID)", logger: logger)
                for try await count in rows.decode(Int.self) { #expect(count == 0, "the finish drops the reports") }
            }
        }
    }

    /// The `details` of the task's progress reports (its `task_status_update` events after the start's).
    static func progressReports(of taskID: String, tenant: TenantID) async throws -> [JSONValue] {
        try await withDatabase { client in
            let logger = Logger(label: "test")
            return try await client.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                let rows = try await conn.query(
                    """
                    SELECT (data -> 'details')::text FROM outbox
                    WHERE task_id = \(UUID(uuidString: taskID)!) AND event = 'task_status_update' AND data -> 'details' ? 'matched'
                    ORDER BY id
                    """,
                    logger: logger
                )
                var reports: [JSONValue] = []
                for try await text in rows.decode(String.self) { reports.append(JSONValue.parse(Array(text.utf8)) ?? .null) }
                return reports
            }
        }
    }
}
