public import Domain

extension RateLimitCounter {
    /// Grants up to ARGV[1] of the window's limit ARGV[2] (expiring after ARGV[3] seconds): less
    /// when the window is nearly spent, nothing when it is. Answers the amount granted and the
    /// window's count after it. A count past the limit (counted per request by an older replica)
    /// grants nothing.
    static let sliceScript = """
        local n = tonumber(redis.call('GET', KEYS[1]) or '0')
        local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - n)
        if grant <= 0 then return {0, n} end
        n = redis.call('INCRBY', KEYS[1], grant)
        if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
        return {grant, n}
        """

    /// Takes a slice of `amount` from the tenant's `window` current at Unix time `clock` (its
    /// `amount` is ignored), never past its limit: what a replica then counts locally. One round
    /// trip; `RedisError.timeout` after `wait`.
    public func slice(
        _ amount: Int,
        of window: Window,
        tenant: TenantID,
        at clock: Int,
        within wait: Duration
    ) async throws -> (granted: Int, count: Int) {
        let key = Self.key(tenant, window.name, window: clock / window.seconds)
        let command = ["EVAL", Self.sliceScript, "1", key, String(amount), String(window.limit), String(window.seconds)]
        let reply = try await redis.pipeline([command], within: wait)[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        let numbers = (reply.array ?? []).compactMap(\.integer)
        guard numbers.count == 2 else { throw RedisError.protocolError("unexpected rate limit reply") }
        return (numbers[0], numbers[1])
    }
}
