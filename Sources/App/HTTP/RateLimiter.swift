import Domain
import Foundation
import HTTPTypes
import Infra

/// Per-tenant rate limits of the tier policy, counted in Redis so that every replica sees the same
/// counts: fixed windows (a minute of requests, a day of creates, an hour of updates), each one
/// `INCR` with its expiry in a single Lua script, so a request costs one round trip. Redis away:
/// requests are let through and counted in `ams_rate_limit_unchecked_total` (fail open), unless
/// `AMS_RATE_LIMIT_FAIL_CLOSED=1`, which refuses them with 503 AMS-503.
struct RateLimiter: Sendable {
    enum Kind: Sendable { case request, create, update }

    struct Verdict: Sendable {
        var limit: Int
        var remaining: Int
        /// Unix time at which the request window ends.
        var reset: Int
    }

    let redis: RedisClient
    let policy: TierPolicy
    let supervisor: TenantSupervisor
    let failClosed: Bool
    let metrics: AppMetrics
    /// How long a request waits for Redis before it is let through (or refused, failing closed).
    var wait = Duration.milliseconds(250)

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

    /// Counts the request (and the create or update it is) and answers the request window's state;
    /// over any limit it throws 429 AMS-208 with what the response headers need.
    func check(tenant: TenantID, kinds: [Kind], now: Date = .now) async throws -> Verdict? {
        let limits = policy[try await supervisor.tenant(tenant).tier()]
        let clock = Int(now.timeIntervalSince1970)
        var windows: [(kind: Kind, limit: Int, seconds: Int)] = []
        if let n = limits.requestsPerMinute { windows.append((.request, n, 60)) }
        if kinds.contains(.create), let n = limits.agentCreatesPerDay { windows.append((.create, n, 86_400)) }
        if kinds.contains(.update), let n = limits.agentUpdatesPerHour { windows.append((.update, n, 3_600)) }
        guard !windows.isEmpty else { return nil }
        let keys = windows.map { "ams:ratelimit:\(tenant):\($0.kind):\(clock / $0.seconds)" }
        let counts: [Int]
        do {
            let arguments = windows.flatMap { [String($0.seconds), String($0.limit)] }
            let reply = try await redis.pipeline([["EVAL", Self.script, String(keys.count)] + keys + arguments], within: wait)[0]
            if case .error(let message) = reply { throw RedisError.server(message) }
            counts = (reply.array ?? []).compactMap(\.integer)
            guard (1...windows.count).contains(counts.count) else { throw RedisError.protocolError("unexpected rate limit reply") }
        } catch {
            metrics.rateLimitUnchecked.increment()
            if failClosed { throw ServiceError(.queueUnavailable, "Rate limits cannot be checked, retry later").caused(by: String(describing: error)) }
            return nil
        }
        for (window, count) in zip(windows, counts) where count > window.limit {
            let reset = (clock / window.seconds + 1) * window.seconds
            let name = switch window.kind {
            case .request: "requests_per_minute"
            case .create: "agent_creates_per_day"
            case .update: "agent_updates_per_hour"
            }
            throw ServiceError(.rateLimited, "Rate limit reached: \(name)", details: [
                "limit_name": .string(name), "limit": .int(window.limit), "reset": .int(reset), "retry_after": .int(max(1, reset - clock)),
            ])
        }
        guard let requests = windows.first, requests.kind == .request else { return nil }
        return Verdict(limit: requests.limit, remaining: max(0, requests.limit - counts[0]), reset: (clock / 60 + 1) * 60)
    }
}
