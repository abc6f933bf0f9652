public import Domain
public import Foundation

/// This replica's side of the tenants' task queues: Redis Streams read through one consumer group,
/// and the tenant leases that keep a tenant's tasks in one process at a time. What goes together
/// goes in one pipeline (or script), so each call is one round trip.
public struct RedisTaskQueue: Sendable {
    /// The queue's group was deleted under the reader (the queue deleted, perhaps made again).
    public struct GroupMissing: Error {}

    let redis: RedisClient
    /// This replica's consumer name in the group.
    public let consumer: String
    /// What this process's leases hold: the consumer name and the process's nonce, so that another
    /// process with the same name never finds a lease already its own.
    let holder: String

    /// `nonce` tells this process from any other with the same consumer name: one per process.
    public init(redis: RedisClient, consumer: String, nonce: String) {
        self.redis = redis
        self.consumer = consumer
        self.holder = consumer + " " + nonce
    }

    /// Adds the task to its tenant's queue for its type, as the producers of other services do.
    public static func enqueue(_ task: TaskMessage, on redis: RedisClient) async throws {
        try await redis.xadd(task.type.queue.key(task.tenantID), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
    }

    /// Creates the group on the queue (and the queue, empty, if it is missing); an existing group stays.
    public func ensureGroup(_ queue: TaskQueue, tenant: TenantID) async throws {
        try await redis.ensureGroup(queue.key(tenant), group: TaskQueue.group)
    }

    /// One page of a `SCAN` for queue keys: the cursor to go on from (`"0"` when done) and the keys.
    public func scanQueues(from cursor: String) async throws -> (next: String, keys: [String]) {
        let reply = try await redis.send("SCAN", cursor, "MATCH", TaskQueue.service + ".*", "COUNT", "1000")
        guard let page = reply.array, page.count == 2 else { throw RedisError.protocolError("unexpected SCAN reply") }
        return (page[0].string ?? "0", (page[1].array ?? []).compactMap(\.string))
    }

    /// Renews the tenant's lease and, only while it is still this process's, resets the idle time of
    /// the entries still being worked on (one script): whether it still is. Once it is not, the
    /// entries are the new holder's; claiming them back would have both run them.
    public func renewLease(_ tenant: TenantID, keeping entries: [QueuedEntry], for duration: Duration) async throws -> Bool {
        let kept = TaskQueue.allCases.compactMap { queue -> (key: String, ids: [String])? in
            let ids = entries.filter { $0.queue == queue }.map(\.entry.id)
            return ids.isEmpty ? nil : (queue.key(tenant), ids)
        }
        return try await redis.send(RedisTaskLease.renew(tenant, holder: holder, for: duration, keeping: kept, consumer: consumer)) == .integer(1)
    }

    /// Lets go of the tenant at once, if the lease is still this process's (else it expires by itself).
    public func releaseLease(_ tenant: TenantID) async throws {
        _ = try await redis.pipeline([RedisTaskLease.release(tenant, holder: holder)])
    }

    /// Adds the entries to the tenant's dead-letter stream (about `maxLength` kept), each with the
    /// message as it was sent and why it cannot be done; an error reply throws.
    public func deadLetter(_ letters: [(entry: QueuedEntry, reason: String, taskID: UUID?)], tenant: TenantID, maxLength: Int) async throws {
        let commands = letters.map { entry, reason, taskID in
            var command = [
                "XADD", TaskQueue.deadLetterKey(tenant), "MAXLEN", "~", String(maxLength), "*",
                "message", entry.entry.fields?["message"] ?? "", "reason", reason,
                "queue", entry.queue.key(tenant), "entry_id", entry.entry.id, "failed_at", Agent.timestamp(.now),
            ]
            if let taskID { command += ["task_id", taskID.uuidString.lowercased()] }
            return command
        }
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError.server(message) }
    }

    /// Acknowledges the entries and deletes them (a stream holds only what is still to be done): per
    /// queue one `XACK` and one `XDEL`; an error reply throws. `releasing`: the tenant's lease is let
    /// go of in the same write, after them (the end of a turn, one round trip).
    public func acknowledge(_ entries: [QueuedEntry], tenant: TenantID, releasing: Bool = false) async throws {
        let acks = Self.acknowledgements(entries)
        let replies = try await redis.pipeline(acks + (releasing ? [RedisTaskLease.release(tenant, holder: holder)] : []))
        for case .error(let message) in replies.prefix(acks.count) { throw RedisError.server(message) }
    }

    /// The `XACK` and `XDEL` of the entries, per tenant and queue.
    static func acknowledgements(_ entries: [QueuedEntry]) -> [[String]] {
        var commands: [[String]] = []
        var tenants: [TenantID] = []
        for entry in entries where !tenants.contains(entry.tenant) { tenants.append(entry.tenant) }
        for tenant in tenants {
            for queue in TaskQueue.allCases {
                let ids = entries.filter { $0.tenant == tenant && $0.queue == queue }.map(\.entry.id)
                guard !ids.isEmpty else { continue }
                commands.append(["XACK", queue.key(tenant), TaskQueue.group] + ids)
                commands.append(["XDEL", queue.key(tenant)] + ids)
            }
        }
        return commands
    }
}
