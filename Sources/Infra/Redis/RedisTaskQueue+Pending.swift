public import Domain

extension RedisTaskQueue {
    /// A tenant's pending entries, claimed: in queue order, and within a queue in the order produced.
    public struct Claimed: Sendable {
        public var entries: [QueuedEntry] = []
        /// The queues none of whose pending entries were left behind: only these may be read for new
        /// entries in the same turn, or a new entry would run before an older one still pending.
        public var drained: [TaskQueue] = []
    }

    /// Every entry still pending in the tenants' queues, with any consumer, now this consumer's: at
    /// most `count` per queue, one `XAUTOCLAIM` per queue with no idle time, in one pipeline. Only the
    /// holder of a tenant's lease calls this: holding it, it owns the tenant's unfinished entries (a
    /// batch cut short by a restart, or left while Postgres was away), which run before new ones.
    /// Per tenant, what was claimed or why its queues could not be claimed from (`GroupMissing` when
    /// a group is gone); throws only when Redis does not answer.
    public func claimPending(
        _ queues: [(tenant: TenantID, queues: [TaskQueue])],
        count: Int
    ) async throws -> [TenantID: Result<Claimed, any Error>] {
        let claims = queues.flatMap { tenant, queues in
            queues.map { ["XAUTOCLAIM", $0.key(tenant), TaskQueue.group, consumer, "0", "0-0", "COUNT", String(count)] }
        }
        var replies = try await redis.pipeline(claims)[...]
        var claimed: [TenantID: Result<Claimed, any Error>] = [:]
        for (tenant, queues) in queues {
            var found: Result<Claimed, any Error> = .success(Claimed())
            for queue in queues {
                let reply = replies.popFirst()
                guard case .success(var sofar) = found else { continue }
                if case .error(let message) = reply {
                    found = .failure(message.hasPrefix("NOGROUP") ? GroupMissing() : RedisError.server(message))
                    continue
                }
                guard let parts = reply?.array, parts.count >= 2 else { continue }
                sofar.entries += RedisClient.entries(parts[1]).map { QueuedEntry(queue: queue, tenant: tenant, entry: $0) }
                if parts[0].string == "0-0" { sofar.drained.append(queue) }
                found = .success(sofar)
            }
            claimed[tenant] = found
        }
        return claimed
    }
}
