public import Domain

extension RedisTaskQueue {
    /// What a tenant's turn hands its runner.
    public struct Turn: Sendable {
        /// Per queue (in queue order) the pending entries claimed, then new ones: at most `batch` per queue in all.
        public var entries: [QueuedEntry] = []
        /// How many of them were pending, claimed from whichever consumer had them.
        public var claimed = 0

        public init(entries: [QueuedEntry] = [], claimed: Int = 0) {
            self.entries = entries
            self.claimed = claimed
        }
    }

    /// The turns of the tenants whose leases this process holds: first their pending entries
    /// (`claimPending`), then new entries of the queues with none left pending, as many as the
    /// claimed ones leave room for in the batch. Per tenant, its turn or why its queues could not be
    /// read (`GroupMissing` when a group is gone, a server error such as WRONGTYPE for a queue key
    /// that is not a stream): one tenant's bad key holds up no other tenant. Throws only when Redis
    /// does not answer.
    public func turns(_ queues: [(tenant: TenantID, queues: [TaskQueue])], batch: Int) async throws -> [TenantID: Result<Turn, any Error>] {
        let pending = try await claimPending(queues, count: batch)
        let room = queues.compactMap { tenant, _ -> (tenant: TenantID, queues: [(queue: TaskQueue, count: Int)])? in
            guard case .success(let claimed) = pending[tenant] else { return nil }
            let counts = claimed.drained.map { queue in (queue: queue, count: batch - claimed.entries.count(where: { $0.queue == queue })) }
            return (tenant, counts.filter { $0.count > 0 })
        }
        let new = try await read(room)
        var turns: [TenantID: Result<Turn, any Error>] = [:]
        for (tenant, queues) in queues {
            turns[tenant] = Result {
                let claimed = try pending[tenant]?.get() ?? Claimed()
                let read = try new[tenant]?.get() ?? []
                let entries = queues.flatMap { queue in claimed.entries.filter { $0.queue == queue } + read.filter { $0.queue == queue } }
                return Turn(entries: entries, claimed: claimed.entries.count)
            }
        }
        return turns
    }
}
