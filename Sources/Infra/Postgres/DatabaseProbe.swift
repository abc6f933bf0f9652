public import PostgresNIO

/// Readiness: can the pool run `SELECT 1` within a second?
public struct DatabaseProbe: Sendable {
    let client: PostgresClient
    let guardrail = DatabaseGuard(timeout: .seconds(1))

    public init(client: PostgresClient) { self.client = client }

    public func isUp() async -> Bool {
        let answered = try? await guardrail.run { lease in
            try await client.withConnection { conn in
                lease.hold(conn)
                defer { lease.release() }
                try await conn.query("SELECT 1", logger: conn.logger)
            }
        }
        return answered != nil
    }
}
