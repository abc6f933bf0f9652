/// Readiness: is the database reachable? Asks the stores' shared database, so the probe shares its
/// breaker and knows a busy pool from a dead database.
public struct DatabaseProbe: Sendable {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) { self.database = database }

    public func isUp() async -> Bool { await database.isReachable() }
}
