public import Domain

/// The rate-limit counts in Redis, so that every replica sees the same: fixed windows, each one
/// `INCR` with its expiry, all in a single Lua script, so a request costs one round trip.
public struct RateLimitCounter: Sendable {
    /// A limit's window: its name in the key, its length, and the count past which it refuses.
    public struct Window: Sendable {
        public var name: String
        public var seconds: Int
        public var limit: Int

        public init(name: String, seconds: Int, limit: Int) {
            self.name = name
            self.seconds = seconds
            self.limit = limit
        }
    }

    let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    /// Counts each window (ARGV: its length in seconds, then its limit) until one is over its
    /// limit: a request refused for its rate does not use up the day's creates.
    static let script = """
        local out = {}
        for i, key in ipairs(KEYS) do
            local n = redis.call('INCR', key)
            if n == 1 then redis.call('EXPIRE', key, ARGV[2 * i - 1]) end
            out[#out + 1] = n
            if n > tonumber(ARGV[2 * i]) then return out end
        end
        return out
        """

    /// Counts one more in the tenant's windows current at Unix time `clock`, in order, up to the first
    /// that goes over its limit; answers the counts so far. `RedisError.timeout` after `wait`.
    public func count(_ windows: [Window], tenant: TenantID, at clock: Int, within wait: Duration) async throws -> [Int] {
        guard !windows.isEmpty else { return [] }
        let keys = windows.map { "ams:ratelimit:\(tenant):\($0.name):\(clock / $0.seconds)" }
        let arguments = windows.flatMap { [String($0.seconds), String($0.limit)] }
        let reply = try await redis.pipeline([["EVAL", Self.script, String(keys.count)] + keys + arguments], within: wait)[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        let counts = (reply.array ?? []).compactMap(\.integer)
        guard (1...windows.count).contains(counts.count) else { throw RedisError.protocolError("unexpected rate limit reply") }
        return counts
    }
}
