import Infra
import Testing

@testable import App

@Suite struct PoolConfigurationTests {
    static let secret = ["AMS_JWT_SECRET": String(repeating: "s", count: 40)]

    @Test func thePoolSizeIsConfigurable() throws {
        #expect(try AppConfiguration.fromEnvironment(Self.secret).databasePoolMaximum == 20)
        let set = try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_DB_POOL_MAX": "8"]) { $1 })
        #expect(set.databasePoolMaximum == 8)
        try set.check()
    }

    @Test(arguments: ["0", "-1"])
    func impossiblePoolsAreRefused(maximum: String) throws {
        let config = try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_DB_POOL_MAX": maximum]) { $1 })
        #expect(throws: ConfigurationError.self) { try config.check() }
    }

    @Test func theRedisURLIsReadAndCheckedAtStart() throws {
        #expect(try AppConfiguration.fromEnvironment(Self.secret).redisURL == "redis://127.0.0.1:6379")
        let set = try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_REDIS_URL": "redis://:pw@cache:6380/2"]) { $1 })
        #expect(set.redisURL == "redis://:pw@cache:6380/2")
        #expect(try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_REDIS_TIMEOUT": "750ms"]) { $1 }).redisTimeout == .milliseconds(750))
        try set.check()
        let bad = try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_REDIS_URL": "http://cache"]) { $1 })
        #expect(throws: ConfigurationError.self) { try bad.check() }
    }
}
