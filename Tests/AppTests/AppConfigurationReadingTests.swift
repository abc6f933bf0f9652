import Foundation
import Infra
import Testing

@testable import App

/// Reading the configuration through swift-configuration: files for secrets, errors naming the variable,
/// flags over the environment, and secrets kept out of everything printed.
@Suite struct AppConfigurationReadingTests {
    static let secret = String(repeating: "u", count: 40)
    static let token = "orchestrator-token-" + String(repeating: "t", count: 24)

    func failure(_ env: [String: String]) -> String? {
        do {
            _ = try AppConfiguration.fromEnvironment(env)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aSecretFileIsReadThroughTheReader() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ams-token-\(UUID().uuidString)").path
        try (Self.token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try AppConfiguration.fromEnvironment([
            "AMS_JWT_SECRET": Self.secret, "AMS_ORCHESTRATOR_WS_URL": "ws://127.0.0.1:9/ws", "AMS_SERVICE_TOKEN_FILE": path,
        ])
        #expect(config.serviceToken == Self.token)
        try config.check()
    }

    @Test(arguments: [
        ("AMS_HTTP_PORT", "80x", "AMS_HTTP_PORT: not a whole number: '80x'"),
        ("AMS_DB_TIMEOUT", "30x", "AMS_DB_TIMEOUT: not a duration such as 500ms, 3s, 5m or 1h: '30x'"),
        ("AMS_LOG_LEVEL", "loud", "AMS_LOG_LEVEL: unknown level 'loud'"),
        ("AMS_LOG_FORMAT", "xml", "AMS_LOG_FORMAT: must be json or text"),
        ("AMS_DEFAULT_TIER", "gold", "AMS_DEFAULT_TIER: unknown tier 'gold'"),
        ("AMS_METRICS", "maybe", "AMS_METRICS: must be 1 or 0 (or true/false, on/off)"),
        ("AMS_METRICS_PORT", "nine", "AMS_METRICS_PORT: not a whole number: 'nine'"),
        ("AMS_WEBHOOK_RETRY_SCHEDULE", "1s,soon", "AMS_WEBHOOK_RETRY_SCHEDULE: not a duration such as 500ms, 3s, 5m or 1h: 'soon'"),
    ])
    func aBadValueIsAnErrorNamingTheVariable(name: String, value: String, message: String) {
        #expect(failure([name: value]) == message)
    }

    @Test func valuesAndDefaultsAreKept() throws {
        let defaults = try AppConfiguration.fromEnvironment([:])
        #expect(defaults.port == 8080 && defaults.logLevel == .info && defaults.webhookRetrySchedule == .standard)
        let set = try AppConfiguration.fromEnvironment([
            "AMS_HTTP_PORT": "9000", "AMS_LOG_LEVEL": "DEBUG", "AMS_LOG_FORMAT": "json", "AMS_DEFAULT_TIER": "free",
            "AMS_WEBHOOKS": "off", "AMS_WEBHOOK_RETRY_SCHEDULE": "200ms, 1s", "AMS_REDIS_URL": "", "AMS_METRICS_PORT": "",
        ])
        #expect(set.port == 9000 && set.logLevel == .debug && set.logFormat == .json && set.webhooks == false)
        #expect(set.webhookRetrySchedule.delays == [.milliseconds(200), .seconds(1)])
        #expect(set.redisURL == defaults.redisURL && set.metricsPort == nil)
    }

    @Test func flagsWinOverTheEnvironment() throws {
        #expect(try CommonOptions.parse(["--log-level", "error"]).configuration().logLevel == .error)
        let url = "postgres://flag:pw@db.example:5432/ams"
        #expect(try CommonOptions.parse(["--database-url", url]).configuration().databaseURL == url)
        #expect(throws: ConfigurationError.self) { try CommonOptions.parse(["--log-level", "loud"]).configuration() }
    }

    @Test func secretsAreRedactedInTheDescription() throws {
        let config = try AppConfiguration.fromEnvironment([
            "AMS_JWT_SECRET": Self.secret, "AMS_SERVICE_TOKEN": Self.token,
            "AMS_DATABASE_URL": "postgres://ams:db-password@db:5432/ams", "AMS_REDIS_URL": "redis://:redis-password@cache:6380/2",
        ])
        for text in ["\(config)", String(reflecting: config)] {
            for secret in [Self.secret, Self.token, "db-password", "redis-password"] { #expect(!text.contains(secret)) }
            #expect(text.contains("postgres://ams:<redacted>@db:5432/ams") && text.contains("redis://:<redacted>@cache:6380/2"))
            #expect(text.contains("jwtSecret: <redacted>") && text.contains("serviceJWTSecret: nil") && text.contains("port: 8080"))
        }
        #expect(AppConfiguration.redactingPassword("redis://only-password@cache") == "redis://<redacted>@cache")
        #expect(AppConfiguration.redactingPassword("postgres://db/ams?x=@y") == "postgres://db/ams?x=@y")
    }

    @Test func theProviderMarksTheSecrets() {
        let provider = AppConfiguration.environmentProvider([
            "AMS_JWT_SECRET": Self.secret, "AMS_DATABASE_URL": "postgres://ams:db-password@db/ams", "AMS_HTTP_HOST": "0.0.0.0",
            "OTHER_TOKEN": "not-ours",
        ])
        let text = String(reflecting: provider)
        #expect(!text.contains(Self.secret) && !text.contains("db-password") && !text.contains("not-ours"))
        #expect(text.contains("AMS_HTTP_HOST=0.0.0.0") && text.contains("AMS_JWT_SECRET=<REDACTED>"))
    }
}
