public import CoreMetrics

/// What the database guard counts. The instruments come from the factory the application passes
/// in, never from a global metrics system, so each application (and each test) has its own.
public struct DatabaseMetrics: Sendable {
    /// How a guarded call ended.
    public enum Outcome: String, Sendable, CaseIterable {
        /// Answered.
        case ok
        /// Postgres refused the statement itself (a constraint, text it cannot store).
        case error
        /// A statement, lock or idle timeout, or the call's deadline.
        case timeout
        /// No connection could be had, or it was lost.
        case unavailable
        /// Not attempted: the breaker was open.
        case refused
    }

    private let calls: [Outcome: Counter]
    /// Connections this replica holds for a call right now.
    let inUse: Meter
    let breakerOpenings: Counter

    public init(factory: any MetricsFactory) {
        var calls: [Outcome: Counter] = [:]
        for outcome in Outcome.allCases {
            calls[outcome] = Counter(label: "ams_database_calls_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        self.calls = calls
        self.inUse = Meter(label: "ams_database_connections_in_use", factory: factory)
        self.breakerOpenings = Counter(label: "ams_database_breaker_openings_total", factory: factory)
    }

    public static let none = DatabaseMetrics(factory: NOOPMetricsHandler.instance)

    func count(_ outcome: Outcome) {
        calls[outcome]?.increment()
    }
}
