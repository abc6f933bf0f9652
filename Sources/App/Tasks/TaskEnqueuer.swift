import Domain
import Foundation
import Infra

/// Puts tasks on their tenant's queue for this service's own endpoints: the task is recorded as
/// `pending` first (so `GET /v1/tasks/{id}` knows it the moment its id is answered), then added to
/// the stream. Redis away: 503 AMS-503, and the record is taken back. Enqueued in a trace, a task
/// carries it in `metadata.traceparent` (unless its producer set one), so its processing continues it.
struct TaskEnqueuer: Sendable {
    let redis: RedisClient?
    let tasks: any TaskStore
    var traces = Traces.off

    func enqueue(_ task: TaskMessage) async throws {
        guard let redis else { throw ServiceError.queueUnavailable.caused(by: "no Redis client") }
        var task = task
        if task.metadata[Traces.header] == nil, let traceparent = traces.traceparent() { task.metadata[Traces.header] = .string(traceparent) }
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
