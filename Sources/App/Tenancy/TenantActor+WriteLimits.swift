import Domain

/// The tier's write limits for work that knows its writes only once planned or made: an apply,
/// each agent of a bulk update, a PATCH or rollback (which may make no version).
extension TenantActor {
    /// Runs `write`, counting `creates` and `updates` against the tier's limits, all or none: they
    /// are reserved first (over a limit: 429 AMS-208, and nothing is written), and refunded when
    /// `write` fails or answers that it wrote nothing.
    func countingWrites<T>(creates: Int = 0, updates: Int = 0, _ write: () async throws -> (result: T, wrote: Bool)) async throws -> T {
        guard let limiter = deps.rateLimiter, creates + updates > 0 else { return try await write().result }
        let reservation = try await limiter.check(tenant: tenantID, tier: try await tier(), request: false, creates: creates, updates: updates)
            .reservation
        let outcome: (result: T, wrote: Bool)
        do {
            outcome = try await write()
        } catch {
            await limiter.refund(reservation)
            throw error
        }
        if !outcome.wrote { await limiter.refund(reservation) }
        return outcome.result
    }
}
