import Domain
import Foundation
import HTTPTypes
import Infra
import Logging

/// Per-tenant rate limits of the tier policy, counted in Redis by `RateLimitCounter` so that every
/// replica sees the same counts: fixed windows (a minute of requests, a day of creates, an hour of
/// updates). Requests are counted here against slices of the minute's window (`RequestSlices`): a
/// round trip per slice, not per request. Creates and updates are exact, one round trip each:
/// reserved before they are written and refunded when they were not (a refused or failed
/// request, an idempotent replay): only writes made count. Redis away: requests are let through
/// and counted in `ams_rate_limit_unchecked_total` (fail open), unless
/// `AMS_RATE_LIMIT_FAIL_CLOSED=1`, which refuses them with 503 AMS-503. A class: the middleware
/// holds it for every request, and copying its fields cost a cached GET retains and releases.
final class RateLimiter: Sendable {
    enum Kind: Sendable { case request, create, update }

    struct Verdict: Sendable {
        var limit: Int
        var remaining: Int
        /// Unix time at which the request window ends.
        var reset: Int
    }

    /// Creates and updates counted before they are made; `refund` takes them back if they were not.
    struct Reservation: Sendable {
        fileprivate let tenant: TenantID
        fileprivate let clock: Int
        fileprivate let windows: [RateLimitCounter.Window]
    }

    let redis: RedisClient
    let policy: TierPolicy
    let failClosed: Bool
    let metrics: AppMetrics
    let logger: Logger
    /// This replica's slices of the request windows.
    let slices = RequestSlices()
    /// How long a request waits for Redis before it is let through (or refused, failing closed).
    let wait: Duration

    init(
        redis: RedisClient,
        policy: TierPolicy,
        failClosed: Bool,
        metrics: AppMetrics,
        logger: Logger,
        wait: Duration = .milliseconds(250)
    ) {
        self.redis = redis
        self.policy = policy
        self.failClosed = failClosed
        self.metrics = metrics
        self.logger = logger
        self.wait = wait
    }

    /// Counts the request (when `request`) and reserves `creates` and `updates`, all or nothing:
    /// over any limit it throws 429 AMS-208 with what the response headers need, having counted no
    /// write. Answers the request window's state and the reservation (`nil` when there is nothing
    /// to refund: no write counted, or Redis away and failing open).
    func check(
        tenant: TenantID,
        tier: Tier,
        request: Bool = true,
        creates: Int = 0,
        updates: Int = 0,
        now: Date = .now
    ) async throws -> (verdict: Verdict?, reservation: Reservation?) {
        let limits = policy[tier]
        let clock = Int(now.timeIntervalSince1970)
        var verdict: Verdict?
        if request, let limit = limits.requestsPerMinute {
            let window = RateLimitCounter.Window(name: "request", seconds: 60, limit: limit)
            let remaining: Int?
            do {
                remaining = try await slices.take(tenant, limit: limit, window: clock / 60) { amount, minute in
                    try await RateLimitCounter(redis: redis).slice(amount, of: window, tenant: tenant, at: minute * 60, within: wait)
                }
            } catch {
                try unchecked(error)
                return (nil, nil)
            }
            guard let remaining else { throw Self.refusal(.request, window, clock: clock) }
            verdict = Verdict(limit: limit, remaining: remaining, reset: (clock / 60 + 1) * 60)
        }
        var writes: [(kind: Kind, window: RateLimitCounter.Window)] = []
        if creates > 0, let n = limits.agentCreatesPerDay {
            writes.append((.create, .init(name: "create", seconds: 86_400, limit: n, amount: creates, keptWhenRefused: false)))
        }
        if updates > 0, let n = limits.agentUpdatesPerHour {
            writes.append((.update, .init(name: "update", seconds: 3_600, limit: n, amount: updates, keptWhenRefused: false)))
        }
        guard !writes.isEmpty else { return (verdict, nil) }
        let counts: [Int]
        do {
            counts = try await RateLimitCounter(redis: redis).count(writes.map(\.window), tenant: tenant, at: clock, within: wait)
        } catch {
            try unchecked(error)
            return (nil, nil)
        }
        for ((kind, window), count) in zip(writes, counts) where count > window.limit {
            throw Self.refusal(kind, window, clock: clock)
        }
        return (verdict, Reservation(tenant: tenant, clock: clock, windows: writes.map(\.window)))
    }

    /// Redis could not count: counted as unchecked, and refused when failing closed.
    private func unchecked(_ error: any Error) throws {
        metrics.rateLimitUnchecked.increment()
        if failClosed {
            throw ServiceError(.queueUnavailable, "Rate limits cannot be checked, retry later").caused(by: String(describing: error))
        }
    }

    /// 429 AMS-208 for the limit of `kind`, with when its window ends.
    private static func refusal(_ kind: Kind, _ window: RateLimitCounter.Window, clock: Int) -> ServiceError {
        let reset = (clock / window.seconds + 1) * window.seconds
        let name =
            switch kind {
            case .request: "requests_per_minute"
            case .create: "agent_creates_per_day"
            case .update: "agent_updates_per_hour"
            }
        return ServiceError(
            .rateLimited,
            "Rate limit reached: \(name)",
            details: [
                "limit_name": .string(name), "limit": .int(window.limit), "reset": .int(reset), "retry_after": .int(max(1, reset - clock)),
            ]
        )
    }

    /// Takes back a reservation whose writes were not made. Redis away: they stay counted until their
    /// window ends.
    func refund(_ reservation: Reservation?) async {
        guard let reservation else { return }
        do {
            try await RateLimitCounter(redis: redis).refund(reservation.windows, tenant: reservation.tenant, at: reservation.clock, within: wait)
        } catch {
            logger.warning("rate limit reservation not refunded", metadata: ["tenant_id": "\(reservation.tenant)", "error": "\(error)"])
        }
    }
}
