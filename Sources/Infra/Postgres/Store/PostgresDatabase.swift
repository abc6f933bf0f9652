import Domain
public import Logging
public import PostgresNIO

/// The pool and the guard (deadline, breaker, lease clock) that every store's calls go through:
/// one of each per process, so a database in trouble trips all the stores at once.
public struct PostgresDatabase: Sendable {
    /// Where tier and tool catalog changes are announced (`ChangeNotification`); agent changes come with their events.
    public static let channel = "agent_management_changes"

    let client: PostgresClient
    let calls: DatabaseGuard
    let logger: Logger
    let traces: Traces
    private let sessions = SessionTraceparents()

    /// `timeout` is the client-side deadline of a call; see `PostgresClient.Configuration(url:statementTimeout:)`
    /// for the server-side ones that should fire first.
    public init(
        client: PostgresClient,
        timeout: Duration = .seconds(3),
        metrics: DatabaseMetrics = .none,
        traces: Traces = .off,
        logger: Logger
    ) {
        self.client = client
        self.calls = DatabaseGuard(timeout: timeout, metrics: metrics)
        self.logger = logger
        self.traces = traces
    }

    /// One guarded call on one leased connection; with tracing on, within traced work, a CLIENT
    /// span (`operation` names it) whose trace the events it writes keep. A connection closed while it sat in the pool (a deadline closed it under an
    /// earlier call, and the pool has not noticed yet) is handed back for another, before anything
    /// is sent on it.
    func single<R: Sendable>(
        timeout: Duration? = nil,
        operation: @autoclosure () -> String = "postgresql",
        _ body: @escaping @Sendable (Connection) async throws -> R
    ) async throws -> R {
        try await traces.withChildSpan(operation(), kind: .client) { span in
            span?.attributes["db.system.name"] = "postgresql"
            let traceparent = span.flatMap { $0.isRecording ? traces.traceparent($0.context) : nil }
            return try await calls.run(timeout: timeout) { [traces, sessions, logger] lease in
                while true {
                    let result: R? = try await client.withConnection { raw in
                        guard !raw.isClosed else { return nil }
                        let conn = try lease.hold(raw)
                        defer { lease.release() }
                        if traces.tracer != nil { try await sessions.hold(traceparent ?? "", on: conn, logger: logger) }
                        return try await body(conn)
                    }
                    if let result { return result }
                    await Task.yield()
                }
            }
        }
    }

    /// One transaction confined to `tenant` by Row-Level Security (`app.tenant_id`), even where a
    /// query forgot its filter.
    func inTenant<R: Sendable>(
        _ tenant: TenantID,
        operation: @autoclosure () -> String = "postgresql",
        _ body: @escaping @Sendable (Connection) async throws -> R
    ) async throws -> R {
        try await single(operation: operation()) { conn in
            try await conn.transaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                return try await body(conn)
            }
        }
    }

    /// Readiness, through the same guard (breaker and lease clock) as every other call.
    public func isReachable() async -> Bool {
        await calls.isReachable { lease in
            try await client.withConnection { raw in
                let conn = try lease.hold(raw)
                defer { lease.release() }
                for try await _ in try await conn.query("SELECT 1", logger: logger) {}
            }
        }
    }
}
