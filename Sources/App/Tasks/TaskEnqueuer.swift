import Domain
import Foundation
import Infra

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
}
