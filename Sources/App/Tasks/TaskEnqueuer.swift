import Domain
import Foundation
import Infra
import Logging

/// Puts tasks on their tenant's queue for this service's own endpoints: the task is recorded as
/// `pending` first (so `GET /v1/tasks/{id}` knows it the moment its id is answered), then added to
/// the stream. Redis away: 503 AMS-503, and the record is taken back.
struct TaskEnqueuer: Sendable {
    let redis: RedisClient?
    let tasks: any TaskStore

    func enqueue(_ task: TaskMessage) async throws {
        guard let redis else { throw ServiceError.queueUnavailable.caused(by: "no Redis client") }
        let recorded = try await tasks.recordPending(task)
        do {
            try await RedisTaskQueue.enqueue(task, on: redis)
        } catch {
            // Only what this call recorded: a resent id's earlier record stands.
            if recorded { try? await tasks.discardPending(task.taskID, tenant: task.tenantID) }
            throw ServiceError.queueUnavailable.caused(by: String(describing: error))
        }
    }

    /// A `revalidate_tenant` task per tenant, after a change that may make their agents invalid.
    /// The change itself stands whatever happens here, so a tenant whose task cannot be queued
    /// (Redis away) is logged, not failed.
    func revalidate(_ tenants: [TenantID], reason: String, logger: Logger) async {
        for tenant in tenants {
            let task = TaskMessage(
                tenantID: tenant,
                type: .revalidateTenant,
                priority: 3,
                metadata: ["source": .string("system"), "reason": .string(reason)]
            )
            do {
                try await enqueue(task)
            } catch {
                logger.warning("revalidation could not be queued", metadata: ["tenant_id": "\(tenant)", "error": "\(error)"])
            }
        }
    }
}
