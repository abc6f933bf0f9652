import Domain
import Foundation
import HTTPTypes
import Infra
import Logging

/// Per-tenant rate limits of the tier policy, counted in Redis by `RateLimitCounter` so that every
/// replica sees the same counts: fixed windows (a minute of requests, a day of creates, an hour of
/// updates), one round trip a request. Creates and updates are reserved before they are written
/// and refunded when they were not (a refused or failed request, an idempotent replay): only
/// writes made count. Redis away: requests are let through and counted in
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
    /// How long a request waits for Redis before it is let through (or refused, failing closed).
    var wait = Duration.milliseconds(250)

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
        var windows: [(kind: Kind, window: RateLimitCounter.Window)] = []
        if request, let n = limits.requestsPerMinute { windows.append((.request, .init(name: "request", seconds: 60, limit: n))) }
        if creates > 0, let n = limits.agentCreatesPerDay {
            windows.append((.create, .init(name: "create", seconds: 86_400, limit: n, amount: creates, keptWhenRefused: false)))
        }
        if updates > 0, let n = limits.agentUpdatesPerHour {
            windows.append((.update, .init(name: "update", seconds: 3_600, limit: n, amount: updates, keptWhenRefused: false)))
        }
        guard !windows.isEmpty else { return (nil, nil) }
        let counts: [Int]
        do {
            counts = try await RateLimitCounter(redis: redis).count(windows.map(\.window), tenant: tenant, at: clock, within: wait)
        } catch {
            metrics.rateLimitUnchecked.increment()
            if failClosed {
                throw ServiceError(.queueUnavailable, "Rate limits cannot be checked, retry later").caused(by: String(describing: error))
            }
            return (nil, nil)
        }
        for ((kind, window), count) in zip(windows, counts) where count > window.limit {
            let reset = (clock / window.seconds + 1) * window.seconds
            let name =
                switch kind {
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
        let writes = windows.filter { $0.kind != .request }.map(\.window)
        let reservation = writes.isEmpty ? nil : Reservation(tenant: tenant, clock: clock, windows: writes)
        guard let requests = windows.first, requests.kind == .request else { return (nil, reservation) }
        let verdict = Verdict(limit: requests.window.limit, remaining: max(0, requests.window.limit - counts[0]), reset: (clock / 60 + 1) * 60)
        return (verdict, reservation)
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
