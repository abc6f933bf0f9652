import Domain
import Foundation
import HTTPTypes
import Infra

/// Per-tenant rate limits of the tier policy, counted in Redis by `RateLimitCounter` so that every
/// replica sees the same counts: fixed windows (a minute of requests, a day of creates, an hour of
/// updates), one round trip a request. Redis away: requests are let through and counted in
/// `ams_rate_limit_unchecked_total` (fail open), unless `AMS_RATE_LIMIT_FAIL_CLOSED=1`, which
/// refuses them with 503 AMS-503.
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
        let counts: [Int]
        do {
            let counted = windows.map { RateLimitCounter.Window(name: "\($0.kind)", seconds: $0.seconds, limit: $0.limit) }
            counts = try await RateLimitCounter(redis: redis).count(counted, tenant: tenant, at: clock, within: wait)
        } catch {
            metrics.rateLimitUnchecked.increment()
            if failClosed {
                throw ServiceError(.queueUnavailable, "Rate limits cannot be checked, retry later").caused(by: String(describing: error))
            }
            return nil
        }
        for (window, count) in zip(windows, counts) where count > window.limit {
            let reset = (clock / window.seconds + 1) * window.seconds
            let name =
                switch window.kind {
                case .request: "requests_per_minute"
                case .create: "agent_creates_per_day"
                case .update: "agent_updates_per_hour"
                }
            throw ServiceError(
                .rateLimited,
                "Rate limit reached: \(name)",
                details: [
                    "limit_name": .string(name), "limit": .int(window.limit), "reset": .int(reset), "retry_after": .int(max(1, reset - clock)),
                ]
            )
        }
        guard let requests = windows.first, requests.kind == .request else { return nil }
        return Verdict(limit: requests.limit, remaining: max(0, requests.limit - counts[0]), reset: (clock / 60 + 1) * 60)
    }
}
