@testable import App
import Infra
import Testing

@Suite struct PoolConfigurationTests {
    static let secret = ["AMS_JWT_SECRET": String(repeating: "s", count: 40)]

    @Test func thePoolIsFixedSizeByDefaultAndConfigurable() throws {
        let defaults = try AppConfiguration.fromEnvironment(Self.secret)
        #expect(defaults.databasePoolMinimum == 20 && defaults.databasePoolMaximum == 20)
        let set = try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_DB_POOL_MIN": "2", "AMS_DB_POOL_MAX": "8"]) { $1 })
        #expect(set.databasePoolMinimum == 2 && set.databasePoolMaximum == 8)
        try set.check()
    }

    @Test(arguments: [("9", "8"), ("-1", "8"), ("0", "0")])
    func impossiblePoolsAreRefused(minimum: String, maximum: String) throws {
        let config = try AppConfiguration.fromEnvironment(Self.secret.merging(["AMS_DB_POOL_MIN": minimum, "AMS_DB_POOL_MAX": maximum]) { $1 })
        #expect(throws: ConfigurationError.self) { try config.check() }
    }
}
