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
    /// for `term` (`LeaseHeld` when another process has it) and, holding it, claims every entry still
    /// pending in its queues, with any consumer (a batch cut short by a restart, or left while
    /// Postgres was away: they run before new ones), then reads new entries of the queues with none
    /// left pending, as many as the claimed ones leave room for in the batch. `settled` are entries
    /// whose tasks are recorded: they are acknowledged in the same write, ahead of the scripts, so no
    /// claim takes them again. Per tenant, its turn or why there is none (`GroupMissing` when a group
    /// is gone, a server error such as WRONGTYPE for a queue key that is not a stream), so that one
    /// tenant's bad key holds up no other; throws when Redis does not answer or refuses an
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
}
