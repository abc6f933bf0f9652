import Domain

/// Which process works on a tenant's queues right now: a Redis key holding the holder (the
/// consumer's name and the process's nonce) that expires after the visibility timeout unless
/// renewed. A tenant's tasks thus run in one process at a time, in order, and a replica that dies
/// lets go by itself. The nonce keeps two processes that share a consumer name (a shared
/// `AMS_REPLICA_NAME`, an old process draining while its restart binds the same port) from both
/// holding a tenant. The commands, for pipelines.
enum RedisTaskLease {
    static func key(_ tenant: TenantID) -> String { "ams:tasklease:\(tenant)" }

    /// Renews the lease and, only while it is still the holder's, resets the idle time of the given
    /// entries of each queue (`XCLAIM … JUSTID` to `consumer`), in one script: answers 1 when the
    /// lease was the holder's, else 0 and nothing is claimed (the entries are the new holder's).
    static func renew(
        _ tenant: TenantID,
        holder: String,
        for duration: Duration,
        keeping entries: [(key: String, ids: [String])],
        consumer: String
    ) -> [String] {
        let keys = [key(tenant)] + entries.map(\.key)
        let arguments = [holder, String(duration.milliseconds), TaskQueue.group, consumer] + entries.flatMap { [String($0.ids.count)] + $0.ids }
        return ["EVAL", renewScript, String(keys.count)] + keys + arguments
    }

    /// KEYS: the lease, then the queues; ARGV: holder, term, group, consumer, then per queue the
    /// count of its ids and the ids. A queue that cannot be claimed from (deleted meanwhile) is
    /// skipped; the ids go 500 to an `XCLAIM`, well within Lua's stack.
    private static let renewScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        local at = 5
        for k = 2, #KEYS do
          local n = tonumber(ARGV[at])
          for first = at + 1, at + n, 500 do
            local command = {'XCLAIM', KEYS[k], ARGV[3], ARGV[4], '0'}
            for i = first, math.min(first + 499, at + n) do command[#command + 1] = ARGV[i] end
            command[#command + 1] = 'JUSTID'
            redis.pcall(unpack(command))
          end
          at = at + n + 1
        end
        return 1
        """

    static func release(_ tenant: TenantID, holder: String) -> [String] {
        ["EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", "1", key(tenant), holder]
    }
}
