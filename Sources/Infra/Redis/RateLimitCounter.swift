public import Domain

/// The rate-limit counts in Redis, so that every replica sees the same: fixed windows, each one
/// `INCRBY` with its expiry, all in a single Lua script, so a write costs one round trip (requests
/// are handed out in slices instead, see `slice`).
public struct RateLimitCounter: Sendable {
    /// A limit's window: its name in the key, its length, the count past which it refuses, how
    /// much one call adds, and whether that stays counted when the call is refused.
    public struct Window: Sendable {
        public var name: String
        public var seconds: Int
        public var limit: Int
        public var amount: Int
        /// `false` for writes: a refused call writes nothing, so it takes back what it counted.
        public var keptWhenRefused: Bool

        public init(name: String, seconds: Int, limit: Int, amount: Int = 1, keptWhenRefused: Bool = true) {
            self.name = name
            self.seconds = seconds
            self.limit = limit
            self.amount = amount
            self.keptWhenRefused = keptWhenRefused
        }
    }

    let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    /// Counts each window (ARGV: its length in seconds, its limit, the amount, 1 if kept when refused)
    /// until one is over its limit; then takes back what the windows not kept counted, that one
    /// included: a request refused for its rate does not use up the day's creates.
    static let script = """
        local out = {}
        for i, key in ipairs(KEYS) do
            local n = redis.call('INCRBY', key, ARGV[4 * i - 1])
            if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[4 * i - 3]) end
            out[#out + 1] = n
            if n > tonumber(ARGV[4 * i - 2]) then
                for j = 1, i do
                    if ARGV[4 * j] == '0' then redis.call('DECRBY', KEYS[j], ARGV[4 * j - 1]) end
                end
                return out
            end
        end
        return out
        """

    /// Takes back each amount from a window that still exists (one that expired has nothing to take).
    static let refundScript = """
        for i, key in ipairs(KEYS) do
            if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, ARGV[i]) end
        end
        return 0
        """

    /// Counts the amounts in the tenant's windows current at Unix time `clock`, in order, up to the
    /// first that goes over its limit; answers the counts so far (the last one over its limit, when
    /// refused). `RedisError.timeout` after `wait`.
    public func count(_ windows: [Window], tenant: TenantID, at clock: Int, within wait: Duration) async throws -> [Int] {
        guard !windows.isEmpty else { return [] }
        let arguments = windows.flatMap { [String($0.seconds), String($0.limit), String($0.amount), $0.keptWhenRefused ? "1" : "0"] }
        let reply = try await redis.pipeline(
            [["EVAL", Self.script, String(windows.count)] + Self.keys(windows, tenant, clock) + arguments],
            within: wait
        )[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        let counts = (reply.array ?? []).compactMap(\.integer)
        guard (1...windows.count).contains(counts.count) else { throw RedisError.protocolError("unexpected rate limit reply") }
        return counts
    }

    /// Takes back what `count` counted at `clock` in these windows (the write they stood for was not made).
    public func refund(_ windows: [Window], tenant: TenantID, at clock: Int, within wait: Duration) async throws {
        guard !windows.isEmpty else { return }
        let command = ["EVAL", Self.refundScript, String(windows.count)] + Self.keys(windows, tenant, clock) + windows.map { String($0.amount) }
        if case .error(let message) = try await redis.pipeline([command], within: wait)[0] { throw RedisError.server(message) }
    }

    private static func keys(_ windows: [Window], _ tenant: TenantID, _ clock: Int) -> [String] {
        windows.map { key(tenant, $0.name, window: clock / $0.seconds) }
    }

    /// The count of one tenant's window (its name, its number since the epoch).
    static func key(_ tenant: TenantID, _ name: String, window: Int) -> String {
        "ams:ratelimit:\(tenant):\(name):\(window)"
    }
}
