/// Readiness: is the database reachable? Asks the store, so the probe shares its breaker and knows
/// a busy pool from a dead database.
public struct DatabaseProbe: Sendable {
    let store: PostgresAgentStore

    public init(store: PostgresAgentStore) { self.store = store }

    public func isUp() async -> Bool { await store.isReachable() }
}
