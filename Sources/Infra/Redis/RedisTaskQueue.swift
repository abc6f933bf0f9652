public import Domain
public import Foundation

/// This replica's side of the tenants' task queues: Redis Streams read through one consumer group,
/// and the tenant leases that keep a tenant's tasks on one replica at a time. What goes together
/// goes in one pipeline, so each call is one round trip.
public struct RedisTaskQueue: Sendable {
    /// The queue's group was deleted under the reader (the queue deleted, perhaps made again).
    public struct GroupMissing: Error {}

    let redis: RedisClient
    /// This replica's consumer name in the group.
    public let consumer: String

    public init(redis: RedisClient, consumer: String) {
        self.redis = redis
        self.consumer = consumer
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

    /// Takes each tenant's lease for `duration`: whether it is this consumer's now, in order.
    public func takeLeases(_ tenants: [TenantID], for duration: Duration) async throws -> [Bool] {
        try await redis.pipeline(tenants.map { RedisTaskLease.take($0, consumer: consumer, for: duration) }).map { $0 == .integer(1) }
    }

    /// Renews the tenant's lease and resets the idle time of the entries still being worked on, so
    /// that no other replica takes the tenant or claims them.
    public func renewLease(_ tenant: TenantID, keeping entries: [QueuedEntry], for duration: Duration) async throws {
        var commands = [RedisTaskLease.renew(tenant, consumer: consumer, for: duration)]
        for queue in TaskQueue.allCases {
            let ids = entries.filter { $0.queue == queue }.map(\.entry.id)
            if !ids.isEmpty { commands.append(["XCLAIM", queue.key(tenant), TaskQueue.group, consumer, "0"] + ids + ["JUSTID"]) }
        }
        _ = try await redis.pipeline(commands)
    }

    /// Lets go of the tenant at once, if the lease is still this consumer's (else it expires by itself).
    public func releaseLease(_ tenant: TenantID) async throws {
        _ = try await redis.pipeline([RedisTaskLease.release(tenant, consumer: consumer)])
    }

    /// New entries of the tenants' queues, at most `count` per queue, in one `XREADGROUP` that does not
    /// block; every tenant asked for has a list, empty when nothing waits. `GroupMissing` when a group is gone.
    public func read(_ queues: [(tenant: TenantID, queues: [TaskQueue])], count: Int) async throws -> [TenantID: [QueuedEntry]] {
        let keys = queues.flatMap { tenant, queues in queues.map { $0.key(tenant) } }
        let found: [String: [StreamEntry]]
        do {
            found = try await redis.readGroup(TaskQueue.group, consumer: consumer, keys: keys, count: count)
        } catch RedisError.server(let message) where message.hasPrefix("NOGROUP") {
            throw GroupMissing()
        }
        var entries: [TenantID: [QueuedEntry]] = [:]
        for (tenant, _) in queues {
            entries[tenant] = TaskQueue.allCases.flatMap { queue in
                (found[queue.key(tenant)] ?? []).map { QueuedEntry(queue: queue, tenant: tenant, entry: $0) }
            }
        }
        return entries
    }

    /// Entries pending longer than `idle` with any consumer (a replica that died), now this consumer's:
    /// at most `count` per queue, one `XAUTOCLAIM` per queue, in one pipeline; per tenant, in order.
    public func claimStale(
        _ queues: [(tenant: TenantID, queues: [TaskQueue])],
        idle: Duration,
        count: Int
    ) async throws -> [(tenant: TenantID, entries: [QueuedEntry])] {
        let claims = queues.flatMap { tenant, queues in
            queues.map { ["XAUTOCLAIM", $0.key(tenant), TaskQueue.group, consumer, String(idle.milliseconds), "0-0", "COUNT", String(count)] }
        }
        var replies = try await redis.pipeline(claims)[...]
        return queues.map { tenant, queues in
            var entries: [QueuedEntry] = []
            for queue in queues {
                guard let parts = replies.popFirst()?.array, parts.count >= 2 else { continue }
                entries += RedisClient.entries(parts[1]).map { QueuedEntry(queue: queue, tenant: tenant, entry: $0) }
            }
            return (tenant, entries)
        }
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
    /// queue one `XACK` and one `XDEL`; an error reply throws.
    public func acknowledge(_ entries: [QueuedEntry], tenant: TenantID) async throws {
        var commands: [[String]] = []
        for queue in TaskQueue.allCases {
            let ids = entries.filter { $0.queue == queue }.map(\.entry.id)
            guard !ids.isEmpty else { continue }
            commands.append(["XACK", queue.key(tenant), TaskQueue.group] + ids)
            commands.append(["XDEL", queue.key(tenant)] + ids)
        }
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError.server(message) }
    }
}
