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

    /// Another process holds the tenant's lease: it reads the tenant until its queues are empty.
    public struct LeaseHeld: Error {}

    /// The picked tenants' turns in one round trip: per tenant one script that takes its lease
    /// for `term` and, when this process has it, claims and reads as `turns` does (`LeaseHeld` when
    /// another process has it). `settled` are entries whose tasks are recorded: they are
    /// acknowledged in the same write, ahead of the scripts, so no claim takes them again. Per
    /// tenant, its turn or why there is none; throws when Redis does not answer or refuses an
    /// acknowledgement.
    public func takeTurns(
        _ queues: [(tenant: TenantID, queues: [TaskQueue])],
        batch: Int,
        for term: Duration,
        acknowledging settled: [QueuedEntry] = []
    ) async throws -> [TenantID: Result<Turn, any Error>] {
        let acks = Self.acknowledgements(settled)
        let scripts = queues.map { tenant, queues in
            RedisTaskTurnScript.command(
                lease: RedisTaskLease.key(tenant),
                queues: queues.map { $0.key(tenant) },
                holder: holder,
                term: term,
                consumer: consumer,
                batch: batch
            )
        }
        let replies = try await redis.pipeline(acks + scripts)
        for case .error(let message) in replies.prefix(acks.count) { throw RedisError.server(message) }
        var turns: [TenantID: Result<Turn, any Error>] = [:]
        for ((tenant, queues), reply) in zip(queues, replies.dropFirst(acks.count)) {
            turns[tenant] = Result { try Self.turn(reply, tenant: tenant, queues: queues) }
        }
        return turns
    }

    /// A turn script's reply, per queue: the claim's cursor and entries, then the read's streams.
    private static func turn(_ reply: RedisValue, tenant: TenantID, queues: [TaskQueue]) throws -> Turn {
        switch reply {
        case .integer(0): throw LeaseHeld()
        case .error(let message): throw message.hasPrefix("NOGROUP") ? GroupMissing() : RedisError.server(message)
        default: break
        }
        guard let parts = reply.array, parts.count == queues.count else { throw RedisError.protocolError("unexpected turn reply") }
        var turn = Turn()
        for (queue, part) in zip(queues, parts) {
            guard let claim = part.array, claim.count == 3 else { throw RedisError.protocolError("unexpected turn reply") }
            let claimed = RedisClient.entries(claim[1])
            let streams = claim[2].array ?? []
            let read = streams.first?.array.flatMap { $0.count == 2 ? RedisClient.entries($0[1]) : nil } ?? []
            turn.entries += (claimed + read).map { QueuedEntry(queue: queue, tenant: tenant, entry: $0) }
            turn.claimed += claimed.count
        }
        return turn
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
