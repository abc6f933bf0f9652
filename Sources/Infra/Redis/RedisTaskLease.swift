import Domain

/// Which replica works on a tenant's queues right now: a Redis key with the consumer's name that
/// expires after the visibility timeout unless renewed. A tenant's tasks thus run on one replica
/// at a time, in order, and a replica that dies lets go by itself. The commands, for pipelines.
enum RedisTaskLease {
    static func key(_ tenant: TenantID) -> String { "ams:tasklease:\(tenant)" }

    /// Answers 1 when the lease is this consumer's now (also when it already was: a release lost
    /// while Redis was away must not lock the consumer out of its own tenant until expiry).
    static func take(_ tenant: TenantID, consumer: String, for duration: Duration) -> [String] {
        [
            "EVAL",
            """
            local owner = redis.call('GET', KEYS[1])
            if owner and owner ~= ARGV[1] then return 0 end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1
            """, "1", key(tenant), consumer, String(duration.milliseconds),
        ]
    }

    static func renew(_ tenant: TenantID, consumer: String, for duration: Duration) -> [String] {
        [
            "EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
            "1", key(tenant), consumer, String(duration.milliseconds),
        ]
    }

    static func release(_ tenant: TenantID, consumer: String) -> [String] {
        ["EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", "1", key(tenant), consumer]
    }
}
