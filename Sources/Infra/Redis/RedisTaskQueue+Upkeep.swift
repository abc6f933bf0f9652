public import Domain

extension RedisTaskQueue {
    /// For each of the tenants' queues, in one pipeline: deletes the group's consumers (other than
    /// this one) that have no pending entry and have been idle longer than `idle` (replicas that
    /// died or were renamed; a live one is made again by its next read), and answers the entries
    /// left, pending ones included; `nil` for a queue whose group (or key) is gone. One script per
    /// queue, so no consumer gains an entry between the check and its deletion.
    public func upkeep(
        _ queues: [(tenant: TenantID, queues: [TaskQueue])],
        idle: Duration
    ) async throws -> [TenantID: [(queue: TaskQueue, left: Int?)]] {
        let scripts = queues.flatMap { tenant, queues in
            queues.map { ["EVAL", Self.upkeepScript, "1", $0.key(tenant), TaskQueue.group, consumer, String(idle.milliseconds)] }
        }
        var replies = try await redis.pipeline(scripts)[...]
        var left: [TenantID: [(queue: TaskQueue, left: Int?)]] = [:]
        for (tenant, queues) in queues {
            for queue in queues {
                let reply = replies.popFirst()
                if case .error(let message) = reply { throw RedisError.server(message) }
                let count = reply?.integer ?? -1
                left[tenant, default: []].append((queue, count < 0 ? nil : count))
            }
        }
        return left
    }

    /// The entries in each stream (`XLEN`), in order: `0` for a key that is gone.
    public func lengths(_ keys: [String]) async throws -> [Int] {
        try await redis.pipeline(keys.map { ["XLEN", $0] }).map { $0.integer ?? 0 }
    }

    static let upkeepScript = """
        local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
        if consumers.err then return -1 end
        for _, consumer in ipairs(consumers) do
            local f = {}
            for i = 1, #consumer, 2 do f[consumer[i]] = consumer[i + 1] end
            if f['name'] ~= ARGV[2] and f['pending'] == 0 and f['idle'] > tonumber(ARGV[3]) then
                redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
            end
        end
        return redis.call('XLEN', KEYS[1]) + redis.call('XPENDING', KEYS[1], ARGV[1])[1]
        """
}
