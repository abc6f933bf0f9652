public import Foundation

/// The committed changes waiting to be announced (the outbox), and where each shared sink got to.
public protocol EventStore: Sendable {
    /// Gives committed events without one their `sequence`, in commit order, at most `limit` of
    /// them; answers them, in order, and the newest sequence, only once the numbers committed (a
    /// failed commit fails the call). Their `NOTIFY ams_events` may reach listeners before or after the answer.
    func sequenceEvents(limit: Int) async throws -> (newest: Int64, events: [ChangeEvent])
    /// The newest sequence given so far.
    func newestSequence() async throws -> Int64
    /// Every tenant's events after a sequence, oldest first.
    func events(after sequence: Int64, limit: Int) async throws -> [ChangeEvent]
    /// One tenant's events after a sequence, oldest first; `nil` when some of them were purged
    /// already (whoever asked must start over from the current state).
    func events(tenant: TenantID, after sequence: Int64, limit: Int) async throws -> [ChangeEvent]?
    /// Removes events (and webhook attempts) older than `retention`, a batch at a time; answers how many events went.
    func purgeEvents(retention: Duration) async throws -> Int
    /// Hands the events after the sink's delivered position to `deliver` and moves the position past
    /// them once it returns, holding the sink while it runs: `nil` when another replica holds it.
    /// Answers the new position.
    func deliver(sink: String, limit: Int, _ deliver: @escaping @Sendable ([ChangeEvent]) async throws -> Void) async throws -> Int64?
    /// Where a shared sink got to (0 before its first delivery).
    func delivered(sink: String) async throws -> Int64
    /// Where a sink that confirms after sending (the orchestrator) got to; a sink seen for the
    /// first time starts at the newest sequence rather than replaying the whole retention.
    func confirmed(sink: String) async throws -> Int64
    /// Moves such a sink's position forward to `sequence` (never back).
    func confirm(sink: String, through sequence: Int64) async throws
}
