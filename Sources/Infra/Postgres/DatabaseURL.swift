import Foundation
public import PostgresNIO

extension PostgresClient.Configuration {
    /// Reads `postgres://user:pass@host:port/db`; `?sslmode=disable` (the default for loopback
    /// hosts) turns TLS off, `require` insists on it.
    public init(url: String) throws {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
              let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty else {
            throw ConfigurationError("AMS_DATABASE_URL must look like postgres://user:pass@host:port/db")
        }
        let database = String(parts.path.drop(while: { $0 == "/" }))
        let sslMode = parts.queryItems?.first { $0.name == "sslmode" }?.value
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        let tls: TLS = switch sslMode {
        case "require", "verify-full": .require(.makeClientConfiguration())
        case "disable": .disable
        default: loopback ? .disable : .prefer(.makeClientConfiguration())
        }
        self.init(host: host, port: parts.port ?? 5432, username: user, password: parts.password?.removingPercentEncoding,
                  database: database.isEmpty ? nil : database, tls: tls)
    }
}

/// A configuration problem that stops the service at start, with a message naming it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
