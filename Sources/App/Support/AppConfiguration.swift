import Domain
import Foundation
import Infra
import Logging

/// Everything the service reads at start: environment first, command-line flags over it.
struct AppConfiguration: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var databaseURL = "postgres://ams:ams@127.0.0.1:5432/ams"
    var jwtSecret = ""
    var defaultTier = Tier.free
    var tiersFile = "config/tiers.yaml"
    var toolsFile = "config/tools.yaml"
    var logLevel = Logger.Level.info
    var logFormat = LogFormat.text
    var bodyLimit = 1024 * 1024
    /// Tenant actors kept at once; the least recently used goes first beyond this.
    var maxTenants = 10_000
    /// A tenant actor unused this long is retired with its cache.
    var tenantIdleTimeout = Duration.seconds(600)
    /// Cached agents per tenant.
    var cacheCapacity = 10_000
    var databaseTimeout = Duration.seconds(3)

    enum LogFormat: String, Sendable { case text, json }

    static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfiguration {
        var c = AppConfiguration()
        if let v = env["AMS_HTTP_HOST"] { c.host = v }
        if let v = env["AMS_HTTP_PORT"] { c.port = try int(v, "AMS_HTTP_PORT") }
        if let v = env["AMS_DATABASE_URL"] { c.databaseURL = v }
        if let v = env["AMS_JWT_SECRET"] { c.jwtSecret = v }
        if let v = env["AMS_DEFAULT_TIER"] {
            guard let tier = Tier(rawValue: v) else { throw ConfigurationError("AMS_DEFAULT_TIER: unknown tier '\(v)'") }
            c.defaultTier = tier
        }
        if let v = env["AMS_TIERS_FILE"] { c.tiersFile = v }
        if let v = env["AMS_TOOLS_FILE"] { c.toolsFile = v }
        if let v = env["AMS_LOG_LEVEL"] {
            guard let level = Logger.Level(rawValue: v.lowercased()) else { throw ConfigurationError("AMS_LOG_LEVEL: unknown level '\(v)'") }
            c.logLevel = level
        }
        if let v = env["AMS_LOG_FORMAT"] {
            guard let format = LogFormat(rawValue: v.lowercased()) else { throw ConfigurationError("AMS_LOG_FORMAT: must be json or text") }
            c.logFormat = format
        }
        if let v = env["AMS_MAX_BODY_BYTES"] { c.bodyLimit = try int(v, "AMS_MAX_BODY_BYTES") }
        if let v = env["AMS_MAX_TENANTS"] { c.maxTenants = try int(v, "AMS_MAX_TENANTS") }
        if let v = env["AMS_TENANT_IDLE_TIMEOUT"] { c.tenantIdleTimeout = try duration(v, "AMS_TENANT_IDLE_TIMEOUT") }
        if let v = env["AMS_CACHE_CAPACITY"] { c.cacheCapacity = try int(v, "AMS_CACHE_CAPACITY") }
        if let v = env["AMS_DB_TIMEOUT"] { c.databaseTimeout = try duration(v, "AMS_DB_TIMEOUT") }
        return c
    }

    /// Refuses to start without what the service cannot run safely without.
    func check() throws {
        guard jwtSecret.utf8.count >= 32 else { throw ConfigurationError("AMS_JWT_SECRET must be set (32 bytes or more, as HS256 needs)") }
        guard (0...65535).contains(port) else { throw ConfigurationError("AMS_HTTP_PORT must be 0–65535") }
        guard maxTenants > 0, cacheCapacity > 0, bodyLimit > 0 else {
            throw ConfigurationError("AMS_MAX_TENANTS, AMS_CACHE_CAPACITY and AMS_MAX_BODY_BYTES must be positive")
        }
    }

    static func int(_ text: String, _ name: String) throws -> Int {
        guard let value = Int(text) else { throw ConfigurationError("\(name): not a whole number: '\(text)'") }
        return value
    }

    /// Durations are written `500ms`, `3s`, `5m`, `1h`, `2d`.
    static func duration(_ text: String, _ name: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            if let n = Double(text.dropLast(suffix.count)), n >= 0, !(suffix == "m" && text.hasSuffix("ms")) {
                return .milliseconds(Int64(n * seconds * 1000))
            }
        }
        throw ConfigurationError("\(name): not a duration such as 500ms, 3s, 5m or 1h: '\(text)'")
    }
}
