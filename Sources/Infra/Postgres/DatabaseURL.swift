import Foundation
public import NIOSSL
public import PostgresNIO

/// The parts of `postgres://user:pass@host:port/db[?sslmode=…]`, for the pool and for the
/// listener's own connection alike.
struct DatabaseURL {
    enum TLSMode { case disable, prefer, require }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String?
    var tls: TLSMode

    /// `sslmode=disable` (the default for loopback hosts) turns TLS off, `require` insists on it.
    init(_ url: String) throws {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
              let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty else {
            throw ConfigurationError("AMS_DATABASE_URL must look like postgres://user:pass@host:port/db")
        }
        let database = String(parts.path.drop(while: { $0 == "/" }))
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        self.host = host
        self.port = parts.port ?? 5432
        self.username = user
        self.password = parts.password?.removingPercentEncoding
        self.database = database.isEmpty ? nil : database
        self.tls = switch parts.queryItems?.first(where: { $0.name == "sslmode" })?.value {
        case "require", "verify-full": .require
        case "disable": .disable
        default: loopback ? .disable : .prefer
        }
    }
}

extension PostgresClient.Configuration {
    public init(url: String) throws {
        let u = try DatabaseURL(url)
        let tls: TLS = switch u.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        self.init(host: u.host, port: u.port, username: u.username, password: u.password, database: u.database, tls: tls)
    }
}

extension PostgresConnection.Configuration {
    public init(url: String) throws {
        let u = try DatabaseURL(url)
        let tls: TLS = switch u.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        self.init(host: u.host, port: u.port, username: u.username, password: u.password, database: u.database, tls: tls)
    }
}

/// A configuration problem that stops the service at start, with a message naming it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
