import Domain
import Foundation
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// Finished tasks are kept for `AMS_TASK_RETENTION`, then the periodic purge removes them, whatever
/// their tenant; tasks still to run, and finished ones within the window, stay.
@Suite struct TaskRetentionTests {
    /// `AMS_TASK_RETENTION`: 30 days unless set.
    @Test func theRetentionIsReadFromTheEnvironment() throws {
        #expect(try AppConfiguration.fromEnvironment([:]).taskRetention == .seconds(30 * 86_400))
        #expect(try AppConfiguration.fromEnvironment(["AMS_TASK_RETENTION": "2h"]).taskRetention == .seconds(7200))
        #expect(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(["AMS_TASK_RETENTION": "soon"]) }
    }

    @Test func finishedTasksPastTheRetentionArePurgedInEveryTenant() async throws {
        try await withDatabase { client in
            let logger = Logger(label: "test")
            let stores = PostgresStores(client: client, defaultTier: .free, logger: logger)
            let tenants = [TestSupport.tenant(), TestSupport.tenant()]
            var old: [UUID] = []
            var kept: [(UUID, TenantID)] = []
            for tenant in tenants {
                let completed = TaskMessage(tenantID: tenant, type: .sync)
                let failed = TaskMessage(tenantID: tenant, type: .sync)
                let recent = TaskMessage(tenantID: tenant, type: .sync)
                let running = TaskMessage(tenantID: tenant, type: .bulkUpdate, payload: ["filter": .object([:]), "patch": .object([:])])
                let pending = TaskMessage(tenantID: tenant, type: .sync)
                _ = try await stores.tasks.start([completed, failed, recent, running], tenant: tenant)
                try await stores.tasks.progress(
                    running.taskID,
                    tenant: tenant,
                    progress: 10,
                    checkpoint: nil,
                    details: .object(["updated": .array([])])
                )
                try await stores.tasks.recordPending(pending)
                try await stores.tasks.finish(
                    [
                        (completed.taskID, .completed(.object([:]))), (failed.taskID, .failed(message: "no", type: "conflict", details: nil)),
                        (recent.taskID, .completed(.object([:]))),
                    ],
                    tenant: tenant
                )
                let aged = [completed.taskID, failed.taskID, running.taskID, pending.taskID]
                try await client.withTransaction(logger: logger) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                    try await conn.query("UPDATE tasks SET updated_at = now() - interval '2 hours' WHERE id = ANY(\(aged))", logger: logger)
                }
                old += [completed.taskID, failed.taskID]
                kept += [(recent.taskID, tenant), (running.taskID, tenant), (pending.taskID, tenant)]
            }
            let purge = RetentionPurge(
                agents: stores.agents,
                tasks: stores.tasks,
                deletedRetention: .seconds(3600),
                taskRetention: .seconds(3600),
                interval: .seconds(3600),
                logger: logger
            )
            // Another suite's purge may hold the purge's lock for a moment: this one then finds nothing to do.
            #expect(
                try await eventually(10) {
                    await purge.purgeOnce()
                    for (index, id) in old.enumerated() where try await stores.tasks.task(id, tenant: tenants[index / 2]) != nil {
                        return false
                    }
                    return true
                },
                "tasks finished 2 h ago are gone, in both tenants"
            )
            for (id, tenant) in kept {
                #expect(try await stores.tasks.task(id, tenant: tenant) != nil, "recent or unfinished tasks stay")
            }
        }
    }
}
