public import PostgresNIO

/// Readiness: can the pool run `SELECT 1` within a second?
public struct DatabaseProbe: Sendable {
    let client: PostgresClient
    let guardrail = DatabaseGuard(timeout: .seconds(1))

    public init(client: PostgresClient) { self.client = client }

    public func isUp() async -> Bool {
        (try? await guardrail.run { _ = try await client.query("SELECT 1") }) != nil
    }
}
