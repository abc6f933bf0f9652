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

    /// TLS is required unless the host is loopback (then off) or `sslmode=disable`/`prefer` asks
    /// otherwise: a password must not cross a network in the clear by default.
    init(_ url: String) throws {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
            let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty
        else {
            throw ConfigurationError("AMS_DATABASE_URL must look like postgres://user:pass@host:port/db")
        }
        let database = String(parts.path.drop(while: { $0 == "/" }))
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        self.host = host
        self.port = parts.port ?? 5432
        // `user` and `password` come back already decoded; decoding twice would turn `%2540` into `@`.
        self.username = user
        self.password = parts.password
        self.database = database.isEmpty ? nil : database
        self.tls =
            switch parts.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            case "require", "verify-ca", "verify-full": .require
            case "disable": .disable
            case "prefer", "allow": .prefer
            case nil: loopback ? .disable : .require
            case let other?: throw ConfigurationError("AMS_DATABASE_URL: unknown sslmode '\(other)'")
            }
    }
}

extension DatabaseURL {
    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}

extension PostgresClient.Configuration {
    /// With `statementTimeout`, Postgres itself ends a statement, a lock wait or an idle transaction
    /// that takes longer (the client cannot cancel a query), and a connect takes at most as long.
    public init(url: String, statementTimeout: Duration) throws {
        try self.init(url: url)
        let ms = String(statementTimeout.milliseconds)
        options.additionalStartupParameters = [
            ("statement_timeout", ms), ("lock_timeout", ms), ("idle_in_transaction_session_timeout", ms),
        ]
        options.connectTimeout = statementTimeout
    }

    public init(url: String) throws {
        let u = try DatabaseURL(url)
        let tls: TLS =
            switch u.tls {
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
        self.init(host: u.host, port: u.port, username: u.username, password: u.password, database: u.database, tls: try u.connectionTLS())
    }
}

/// A configuration problem that stops the service at start, with a message naming it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
