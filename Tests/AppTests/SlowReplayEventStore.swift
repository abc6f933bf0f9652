import Domain
import Foundation

/// The real event store with one injected fault: each page of a tenant's replay comes `pause`
/// late, as from a loaded database, so a busy tenant's live events pile up meanwhile.
struct SlowReplayEventStore: EventStore {
    let inner: any EventStore
    let pause: Duration

    func events(tenant: TenantID, after sequence: Int64, limit: Int) async throws -> [ChangeEvent]? {
        try await Task.sleep(for: pause)
        return try await inner.events(tenant: tenant, after: sequence, limit: limit)
    }

    func sequenceEvents(limit: Int) async throws -> (newest: Int64, events: [ChangeEvent]) { try await inner.sequenceEvents(limit: limit) }
    func newestSequence() async throws -> Int64 { try await inner.newestSequence() }
    func events(after sequence: Int64, limit: Int) async throws -> [ChangeEvent] { try await inner.events(after: sequence, limit: limit) }
    func purgeEvents(retention: Duration) async throws -> Int { try await inner.purgeEvents(retention: retention) }
    func deliver(sink: String, limit: Int, _ deliver: @escaping @Sendable ([ChangeEvent]) async throws -> Void) async throws -> Int64? {
        try await inner.deliver(sink: sink, limit: limit, deliver)
    }
    func delivered(sink: String) async throws -> Int64 { try await inner.delivered(sink: sink) }
    func confirmed(sink: String) async throws -> Int64 { try await inner.confirmed(sink: sink) }
    func confirm(sink: String, through sequence: Int64) async throws { try await inner.confirm(sink: sink, through: sequence) }
}
