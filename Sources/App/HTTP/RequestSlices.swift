import Domain
import Synchronization

/// This replica's slices of each tenant's requests per minute: a request is counted here, under a
/// lock and without a round trip, against a slice taken from the tenant's window in Redis
/// (`RateLimitCounter.slice`); only a spent slice costs one, and one refill per tenant is in flight
/// at a time (the tenant's other requests wait for it). Redis never grants past the limit, so the
/// replicas together admit at most the limit; a slice a replica has not used can make another
/// refuse up to one slice early. A refill that times out may still have been counted in Redis: that
/// slice is lost to the window (at most one per refill that timed out, the requests it stood for let
/// through as unchecked). The windows before the current one are forgotten at its start.
final class RequestSlices: Sendable {
    /// A slice is 1% of the limit, between 1 and 1,000 requests. One replica then takes at most about
    /// 100 slices a window, one round trip each, however busy the tenant (refusals cost none: the
    /// spent window is known here); what it holds unused, and another replica may miss, is at most
    /// 1% of the limit. Limits under 200 a minute (free, advance) are counted request by request:
    /// a few round trips a second cost nothing. Past 100,000 a minute, slices of 1,000 already
    /// spare 99.9% of the round trips.
    static func size(of limit: Int) -> Int {
        max(1, min(limit / 100, 1_000))
    }

    /// The outcome of a refill, for the requests that waited for it.
    typealias Refilled = Result<Void, any Error>

    private struct Entry {
        var window: Int
        /// Of this replica's slices, what it has not used.
        var left = 0
        /// The window's count in Redis after this replica's last slice: what all replicas had taken.
        var count = 0
        var refilling = false
        var waiting: [CheckedContinuation<Refilled, Never>] = []
    }

    private enum Step {
        case admitted(remaining: Int)
        case refused
        case refill(amount: Int, window: Int)
        case wait
    }

    private struct State {
        var tenants: [TenantID: Entry] = [:]
        var swept = Int.min

        /// Counts one request against the tenant's slice, or says what must happen first.
        mutating func step(_ tenant: TenantID, limit: Int, window: Int) -> Step {
            if window > swept {
                tenants = tenants.filter { $0.value.window >= window || $0.value.refilling }
                swept = window
            }
            var entry = tenants[tenant] ?? Entry(window: window)
            if entry.refilling { return .wait }
            // A request that read the clock just before another began the next window counts in that one.
            if entry.window < window { entry = Entry(window: window) }
            defer { tenants[tenant] = entry }
            if entry.left > 0 {
                entry.left -= 1
                return .admitted(remaining: max(0, limit - entry.count + entry.left))
            }
            if entry.count >= limit { return .refused }
            entry.refilling = true
            return .refill(amount: RequestSlices.size(of: limit), window: entry.window)
        }

        /// Adds what Redis granted (the refilling request takes its own share first) and hands
        /// back the requests that waited.
        mutating func refilled(
            _ tenant: TenantID,
            limit: Int,
            _ outcome: Result<(granted: Int, count: Int), any Error>
        ) -> (step: Step?, waiting: [CheckedContinuation<Refilled, Never>]) {
            guard var entry = tenants[tenant] else { return (nil, []) }
            defer { tenants[tenant] = entry }
            let waiting = entry.waiting
            entry.refilling = false
            entry.waiting = []
            guard case .success(let slice) = outcome else { return (nil, waiting) }
            entry.count = max(entry.count, slice.count)
            entry.left += slice.granted
            guard entry.left > 0 else { return (.refused, waiting) }
            entry.left -= 1
            return (.admitted(remaining: max(0, limit - entry.count + entry.left)), waiting)
        }
    }

    private let state = Mutex(State())

    /// Counts one of the tenant's requests in `window` (minutes since the epoch): answers what the
    /// replicas have left of `limit` (this one's best estimate), or `nil` when it is spent.
    /// `refill(amount, window)` takes a slice from Redis; what it throws is thrown here, to the
    /// request that called it and to those that waited for it.
    func take(
        _ tenant: TenantID,
        limit: Int,
        window: Int,
        refill: (Int, Int) async throws -> (granted: Int, count: Int)
    ) async throws -> Int? {
        while true {
            switch state.withLock({ $0.step(tenant, limit: limit, window: window) }) {
            case .admitted(let remaining): return remaining
            case .refused: return nil
            case .refill(let amount, let window):
                let outcome: Result<(granted: Int, count: Int), any Error>
                do {
                    outcome = .success(try await refill(amount, window))
                } catch {
                    outcome = .failure(error)
                }
                let (step, waiting) = state.withLock { $0.refilled(tenant, limit: limit, outcome) }
                for waiter in waiting { waiter.resume(returning: outcome.map { _ in () }) }
                switch step {
                case .admitted(let remaining): return remaining
                case .refused: return nil
                default: _ = try outcome.get()
                }
            case .wait:
                let outcome = await withCheckedContinuation { (waiter: CheckedContinuation<Refilled, Never>) in
                    let queued = state.withLock { state in
                        guard state.tenants[tenant]?.refilling == true else { return false }
                        state.tenants[tenant]?.waiting.append(waiter)
                        return true
                    }
                    if !queued { waiter.resume(returning: .success(())) }
                }
                try outcome.get()
            }
        }
    }

    /// How many tenants this replica holds slices for.
    var tenantCount: Int {
        state.withLock { $0.tenants.count }
    }
}
