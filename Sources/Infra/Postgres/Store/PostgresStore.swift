import Domain
import Foundation
import Logging
import PostgresNIO

/// An aggregate's store on the shared database: its calls and row helpers read as the store's own.
protocol PostgresStore: Sendable {
    var database: PostgresDatabase { get }
}

extension PostgresStore {
    var logger: Logger { database.logger }

    /// Where this store's committed changes are announced to every replica.
    static var channel: String { PostgresDatabase.channel }

    /// A guarded call; its span (when tracing is on) is named after the store's method, e.g.
    /// `PostgresAgentStore.insert(_:quota:audit:)`.
    func single<R: Sendable>(
        timeout: Duration? = nil,
        function: String = #function,
        _ body: @escaping @Sendable (Connection) async throws -> R
    ) async throws -> R {
        try await database.single(timeout: timeout, operation: "\(Self.self).\(function)", body)
    }

    func inTenant<R: Sendable>(
        _ tenant: TenantID,
        function: String = #function,
        _ body: @escaping @Sendable (Connection) async throws -> R
    ) async throws -> R {
        try await database.inTenant(tenant, operation: "\(Self.self).\(function)", body)
    }

    /// Whether the agent is live, read in the caller's transaction.
    static func isLive(_ id: UUID, tenant: TenantID, on conn: Connection, logger: Logger) async throws -> Bool {
        let rows = try await conn.query(
            "SELECT 1 FROM agents WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL",
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// A `jsonb` column read as text.
    static func json(_ text: String) -> JSONValue { JSONValue.parse(Array(text.utf8)) ?? .null }

    /// A value written as text and cast to `jsonb` in the statement.
    static func text(_ json: JSONValue) -> String { String(decoding: json.encoded, as: UTF8.self) }
}
