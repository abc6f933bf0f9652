import Domain
import Foundation
import Infra
import JWTKit
import Synchronization
import Testing

@testable import App

/// Unit tests of `TokenVerifier` and the secret settings of `AppConfiguration`; no database.
@Suite struct TokenVerifierTests {
    static let userSecret = "user-secret-0123456789abcdefghijklmnopqrstuvwxyz"
    static let serviceSecret = "service-secret-0123456789abcdefghijklmnopqrstuvw"

    /// The error code `body` throws, or nil if it throws something else or nothing.
    func code(_ body: () async throws -> some Any) async -> ErrorCode? {
        do {
            _ = try await body()
            return nil
        } catch let error as ServiceError {
            return error.code
        } catch {
            return nil
        }
    }

    func message(_ body: () async throws -> some Any) async -> String? {
        do {
            _ = try await body()
            return nil
        } catch {
            return (error as? ServiceError)?.message
        }
    }

    // MARK: service key

    @Test func serviceTokensSignedWithTheUserKeyAreRefusedWhenAServiceKeyIsSet() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, serviceSecret: Self.serviceSecret)
        let leaked = try await TokenVerifier(secret: Self.userSecret).sign(subject: "mallory", tenant: nil, roles: [.service], ttl: .seconds(60))
        #expect(await code { try await verifier.verify(leaked) } == .invalidToken)
        #expect(await message { try await verifier.verify(leaked) } == "Service tokens must be signed with the service key")
        // A user token (no service role) signed with the user key is still fine.
        let user = try await verifier.sign(subject: "u", tenant: "t1", roles: [.admin], ttl: .seconds(60))
        #expect(try await verifier.verify(user).tenant_id == "t1")
        #expect(verifier.cache.count == 1)
    }

    @Test func serviceTokensSignedWithTheServiceKeyAreAccepted() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, serviceSecret: Self.serviceSecret)
        let token = try await verifier.sign(subject: "orchestrator", tenant: nil, roles: [.service], ttl: .seconds(60))
        let claims = try await verifier.verify(token)
        #expect(claims.sub.value == "orchestrator" && claims.roles == ["service"])
        // It was signed with the service key, not the user key.
        #expect(await code { try await TokenVerifier(secret: Self.userSecret).verify(token) } == .invalidToken)
        #expect(try await TokenVerifier(secret: Self.serviceSecret).verify(token).sub.value == "orchestrator")
    }

    @Test func tokensSignedWithTheServiceKeyMustCarryTheServiceRole() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, serviceSecret: Self.serviceSecret)
        let token = try await TokenVerifier(secret: Self.serviceSecret).sign(subject: "x", tenant: "t1", roles: [.admin], ttl: .seconds(60))
        #expect(await code { try await verifier.verify(token) } == .invalidToken)
        #expect(verifier.cache.count == 0)
    }

    @Test func withoutAServiceKeyTheUserKeySignsServiceTokensAsBefore() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret)
        let token = try await verifier.sign(subject: "svc", tenant: nil, roles: [.service], ttl: .seconds(60))
        #expect(try await verifier.verify(token).roles == ["service"])
        let foreign = try await TokenVerifier(secret: Self.serviceSecret).sign(subject: "svc", tenant: nil, roles: [.service], ttl: .seconds(60))
        #expect(await code { try await verifier.verify(foreign) } == .invalidToken)
    }

    // MARK: issuer and audience

    @Test func theIssuerMustMatchWhenConfigured() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, issuer: "https://auth.example")
        let good = try await verifier.sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(60))
        #expect(try await verifier.verify(good).iss?.value == "https://auth.example")
        let wrong = try await TokenVerifier(secret: Self.userSecret, issuer: "https://evil.example")
            .sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(60))
        #expect(await code { try await verifier.verify(wrong) } == .invalidToken)
        let missing = try await TokenVerifier(secret: Self.userSecret).sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(60))
        #expect(await code { try await verifier.verify(missing) } == .invalidToken)
    }

    @Test func theAudienceMustBeNamedWhenConfigured() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, audience: "ams")
        let good = try await verifier.sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(60))
        #expect(try await verifier.verify(good).aud?.value == ["ams"])
        let expiry = Date().addingTimeInterval(60)
        let several = try await verifier.sign(
            AccessClaims(subject: "u", tenant: "t1", roles: ["viewer"], expiry: expiry, audience: ["billing", "ams"])
        )
        #expect(try await verifier.verify(several).sub.value == "u")
        let other = try await verifier.sign(AccessClaims(subject: "u", tenant: "t1", roles: ["viewer"], expiry: expiry, audience: ["billing"]))
        #expect(await code { try await verifier.verify(other) } == .invalidToken)
        let missing = try await verifier.sign(AccessClaims(subject: "u", tenant: "t1", roles: ["viewer"], expiry: expiry))
        #expect(await code { try await verifier.verify(missing) } == .invalidToken)
    }

    // MARK: leeway

    @Test func expiryAllowsThirtySecondsOfClockSkew() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret)
        let recent = try await verifier.sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(-20))
        #expect(try await verifier.verify(recent).sub.value == "u")
        let stale = try await verifier.sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(-60))
        #expect(await code { try await verifier.verify(stale) } == .expiredToken)
        #expect(verifier.cache.count == 1)
    }

    // MARK: cache

    @Test func aRepeatedTokenIsAnsweredFromTheCache() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret)
        let token = try await verifier.sign(subject: "u", tenant: "t1", roles: [.editor], ttl: .seconds(600))
        let first = try await verifier.verify(token)
        #expect(verifier.cache.misses == 1 && verifier.cache.hits == 0)
        let second = try await verifier.verify(token)
        #expect(second == first)
        #expect(verifier.cache.misses == 1 && verifier.cache.hits == 1 && verifier.cache.count == 1)
    }

    @Test func failedTokensAreNotCached() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, serviceSecret: Self.serviceSecret)
        let forged = try await TokenVerifier(secret: String(repeating: "z", count: 40)).sign(
            subject: "x",
            tenant: "t",
            roles: [.admin],
            ttl: .seconds(60)
        )
        let leaked = try await TokenVerifier(secret: Self.userSecret).sign(subject: "x", tenant: nil, roles: [.service], ttl: .seconds(60))
        for token in [forged, leaked, forged, leaked, "not.a.jwt"] {
            #expect(await code { try await verifier.verify(token) } == .invalidToken)
        }
        #expect(verifier.cache.count == 0 && verifier.cache.hits == 0 && verifier.cache.misses == 5)
    }

    @Test func aCachedTokenPastItsExpiryIsRefusedAndEvicted() async throws {
        let clock = TestClock()
        let verifier = await TokenVerifier(secret: Self.userSecret, clock: { clock.now })
        let token = try await verifier.sign(subject: "u", tenant: "t1", roles: [.viewer], ttl: .seconds(60))
        _ = try await verifier.verify(token)
        clock.advance(80)  // past exp, within the leeway
        _ = try await verifier.verify(token)
        #expect(verifier.cache.hits == 1 && verifier.cache.count == 1)
        clock.advance(20)  // exp + 40 s
        #expect(await code { try await verifier.verify(token) } == .expiredToken)
        #expect(verifier.cache.count == 0 && verifier.cache.hits == 1)
        #expect(await code { try await verifier.verify(token) } == .expiredToken)
    }

    @Test func theCacheNeverExceedsItsBound() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, cacheCapacity: 10)
        var tokens: [String] = []
        for i in 0..<50 {
            let token = try await verifier.sign(subject: "u\(i)", tenant: "t1", roles: [.viewer], ttl: .seconds(600))
            tokens.append(token)
            #expect(try await verifier.verify(token).sub.value == "u\(i)")
            #expect(verifier.cache.count <= 10)
        }
        // Evicted tokens are verified again, not refused.
        for (i, token) in tokens.enumerated() {
            #expect(try await verifier.verify(token).sub.value == "u\(i)")
        }
        #expect(verifier.cache.count <= 10)
    }

    @Test func expiredEntriesGoFirstWhenTheCacheIsFull() async throws {
        let clock = TestClock()
        let verifier = await TokenVerifier(secret: Self.userSecret, cacheCapacity: 4, clock: { clock.now })
        for i in 0..<4 {
            _ = try await verifier.verify(try await verifier.sign(subject: "old\(i)", tenant: "t", roles: [.viewer], ttl: .seconds(10)))
        }
        clock.advance(100)
        let fresh = try await verifier.sign(subject: "new", tenant: "t", roles: [.viewer], ttl: .seconds(600))
        _ = try await verifier.verify(fresh)
        #expect(verifier.cache.count == 1)
    }

    // MARK: claim paths

    static let keycloak = ClaimPaths(roles: ClaimPath("realm_access.roles")!, tenant: ClaimPath("organization.tenant")!)

    /// The JSON payload of `token`, unverified.
    func payload(_ token: String) throws -> [String: Any] {
        var base64 = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let data = try #require(Data(base64Encoded: base64))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func byDefaultRolesAndTenantAreTopLevelClaims() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret)
        let token = try await verifier.sign(subject: "u", tenant: "t1", roles: [.editor], ttl: .seconds(60))
        let payload = try self.payload(token)
        #expect(payload["roles"] as? [String] == ["editor"] && payload["tenant_id"] as? String == "t1")
        #expect(await code { try await TokenVerifier(secret: Self.userSecret, claims: Self.keycloak).verify(token) } == .invalidToken)
    }

    @Test func rolesAndTenantAreWrittenAndReadAtTheConfiguredPaths() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, claims: Self.keycloak)
        let token = try await verifier.sign(subject: "u", tenant: "t1", roles: [.editor], ttl: .seconds(60))
        let payload = try self.payload(token)
        #expect((payload["realm_access"] as? [String: Any])?["roles"] as? [String] == ["editor"])
        #expect((payload["organization"] as? [String: Any])?["tenant"] as? String == "t1")
        #expect(payload["roles"] == nil && payload["tenant_id"] == nil)
        let claims = try await verifier.verify(token)
        #expect(claims.roles == ["editor"] && claims.tenant_id == "t1")
        let service = try await verifier.sign(subject: "s", tenant: nil, roles: [.service], ttl: .seconds(60))
        #expect(try self.payload(service)["organization"] == nil)
        #expect(try await verifier.verify(service).tenant_id == nil)
    }

    /// A payload shaped as Keycloak's: roles among others in `realm_access`, claims the service ignores.
    struct KeycloakPayload: JWTPayload {
        struct Access: Codable { var roles: [String]? }
        var sub = SubjectClaim(value: "kc-user")
        var exp = ExpirationClaim(value: Date().addingTimeInterval(60))
        var azp = "ams-client"
        var scope = "openid profile"
        var realm_access: Access?
        var organization: [String: String]?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    func keycloakToken(_ payload: KeycloakPayload) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Self.userSecret), digestAlgorithm: .sha256)
        return try await keys.sign(payload)
    }

    @Test func aPathLeadsThroughNestedObjectsAndAMissingStepIsAMissingClaim() async throws {
        let verifier = await TokenVerifier(secret: Self.userSecret, claims: Self.keycloak)
        var payload = KeycloakPayload()
        payload.realm_access = .init(roles: ["offline_access", "admin", "default-roles-ams"])
        payload.organization = ["tenant": "acme"]
        let claims = try await verifier.verify(try await keycloakToken(payload))
        #expect(claims.roles == ["offline_access", "admin", "default-roles-ams"] && claims.tenant_id == "acme")
        payload.organization = nil
        #expect(try await verifier.verify(try await keycloakToken(payload)).tenant_id == nil)
        payload.realm_access = .init(roles: nil)
        #expect(await code { try await verifier.verify(try await keycloakToken(payload)) } == .invalidToken)
        payload.realm_access = nil
        #expect(await code { try await verifier.verify(try await keycloakToken(payload)) } == .invalidToken)
    }

    // MARK: configuration

    @Test func theConfiguredVerifierUsesEverySetting() async throws {
        var config = AppConfiguration()
        config.jwtSecret = Self.userSecret
        config.serviceJWTSecret = Self.serviceSecret
        config.jwtIssuer = "iss"
        config.jwtAudience = "aud"
        config.jwtClaims = Self.keycloak
        let verifier = await TokenVerifier.make(config)
        let token = try await verifier.sign(subject: "s", tenant: nil, roles: [.service], ttl: .seconds(60))
        let claims = try await TokenVerifier(secret: Self.serviceSecret, claims: Self.keycloak).verify(token)
        #expect(claims.iss?.value == "iss" && claims.aud?.value == ["aud"])
        #expect(try await verifier.verify(token).sub.value == "s")
    }
}

@Suite struct AppConfigurationSecretTests {
    func temporaryFile(_ content: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ams-secret-\(UUID().uuidString)").path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func failure(_ env: [String: String]) -> String? {
        do {
            let config = try AppConfiguration.fromEnvironment(env)
            try config.check()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func secretsAreReadFromFilesWithoutTheTrailingNewline() throws {
        let user = try temporaryFile(TokenVerifierTests.userSecret + "\n")
        let service = try temporaryFile(TokenVerifierTests.serviceSecret + "\r\n")
        defer {
            try? FileManager.default.removeItem(atPath: user)
            try? FileManager.default.removeItem(atPath: service)
        }
        let config = try AppConfiguration.fromEnvironment(["AMS_JWT_SECRET_FILE": user, "AMS_SERVICE_JWT_SECRET_FILE": service])
        #expect(config.jwtSecret == TokenVerifierTests.userSecret)
        #expect(config.serviceJWTSecret == TokenVerifierTests.serviceSecret)
        try config.check()
    }

    @Test func secretsAreReadFromTheEnvironment() throws {
        let config = try AppConfiguration.fromEnvironment([
            "AMS_JWT_SECRET": TokenVerifierTests.userSecret, "AMS_SERVICE_JWT_SECRET": TokenVerifierTests.serviceSecret,
            "AMS_JWT_ISSUER": "https://auth.example", "AMS_JWT_AUDIENCE": "ams",
        ])
        #expect(config.jwtSecret == TokenVerifierTests.userSecret && config.serviceJWTSecret == TokenVerifierTests.serviceSecret)
        #expect(config.jwtIssuer == "https://auth.example" && config.jwtAudience == "ams")
        let plain = try AppConfiguration.fromEnvironment(["AMS_JWT_SECRET": TokenVerifierTests.userSecret, "AMS_SERVICE_JWT_SECRET": ""])
        #expect(plain.serviceJWTSecret == nil && plain.jwtIssuer == nil && plain.jwtAudience == nil)
    }

    @Test func aVariableAndItsFileFormTogetherAreAnError() throws {
        let path = try temporaryFile(TokenVerifierTests.userSecret)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let both = failure(["AMS_JWT_SECRET": TokenVerifierTests.userSecret, "AMS_JWT_SECRET_FILE": path])
        #expect(both?.contains("AMS_JWT_SECRET and AMS_JWT_SECRET_FILE are both set") == true)
        let serviceBoth = failure([
            "AMS_JWT_SECRET": TokenVerifierTests.userSecret,
            "AMS_SERVICE_JWT_SECRET": TokenVerifierTests.serviceSecret, "AMS_SERVICE_JWT_SECRET_FILE": path,
        ])
        #expect(serviceBoth?.contains("AMS_SERVICE_JWT_SECRET_FILE") == true)
    }

    @Test func anUnreadableOrEmptySecretFileIsAnErrorNamingTheVariable() throws {
        let missing = failure(["AMS_JWT_SECRET": TokenVerifierTests.userSecret, "AMS_SERVICE_JWT_SECRET_FILE": "/nonexistent/ams-secret"])
        #expect(missing?.contains("AMS_SERVICE_JWT_SECRET_FILE") == true)
        let empty = try temporaryFile("\n")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(failure(["AMS_JWT_SECRET_FILE": empty])?.contains("AMS_JWT_SECRET_FILE") == true)
    }

    @Test func aServiceSecretMustBeLongAndDistinct() {
        let user = TokenVerifierTests.userSecret
        #expect(failure(["AMS_JWT_SECRET": user, "AMS_SERVICE_JWT_SECRET": "short"])?.contains("AMS_SERVICE_JWT_SECRET") == true)
        #expect(failure(["AMS_JWT_SECRET": user, "AMS_SERVICE_JWT_SECRET": user])?.contains("differ") == true)
        #expect(failure(["AMS_JWT_SECRET": user, "AMS_SERVICE_JWT_SECRET": TokenVerifierTests.serviceSecret]) == nil)
    }

    @Test func noCommandLineFlagTakesASecret() {
        #expect(throws: (any Error).self) { try TokenCommand.parse(["--tenant", "t", "--jwt-secret", TokenVerifierTests.userSecret]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--jwt-secret", TokenVerifierTests.userSecret]) }
        #expect(throws: Never.self) { try TokenCommand.parse(["--tenant", "t"]) }
    }

    @Test func heartbeatAndIdleTimeoutHaveDefaultsAndParse() throws {
        let defaults = try AppConfiguration.fromEnvironment([:])
        #expect(defaults.listenerHeartbeat == .seconds(2) && defaults.httpIdleTimeout == .seconds(60))
        let set = try AppConfiguration.fromEnvironment(["AMS_LISTENER_HEARTBEAT": "500ms", "AMS_HTTP_IDLE_TIMEOUT": "2m"])
        #expect(set.listenerHeartbeat == .milliseconds(500) && set.httpIdleTimeout == .seconds(120))
        #expect(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(["AMS_HTTP_IDLE_TIMEOUT": "soon"]) }
        #expect(failure(["AMS_JWT_SECRET": TokenVerifierTests.userSecret, "AMS_LISTENER_HEARTBEAT": "0s"]) != nil)
    }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date())
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0.addTimeInterval(seconds) } }
}
