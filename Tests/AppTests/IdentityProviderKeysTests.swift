import Domain
import Foundation
import Infra
import JWTKit
import Logging
import Testing

@testable import App

/// A test identity provider: key pairs whose public halves it writes as a JWKS file, and tokens
/// signed with them (`kid` in the header).
struct TestIdentityProvider {
    struct Pair: Sendable {
        let kid: String
        let jwk: [String: String]
        /// Adds the private key, under `kid`, to a collection whose tokens carry roles and tenant at the paths.
        let add: @Sendable (JWTKeyCollection, ClaimPaths) async -> Void

        func token(
            subject: String = "u",
            tenant: String? = "t1",
            roles: [String] = ["editor"],
            ttl: TimeInterval = 600,
            paths: ClaimPaths = .standard
        ) async throws -> String {
            let signer = JWTKeyCollection()
            await add(signer, paths)
            let claims = AccessClaims(subject: subject, tenant: tenant, roles: roles, expiry: Date().addingTimeInterval(ttl))
            return try await signer.sign(claims, kid: JWKIdentifier(string: kid))
        }
    }

    static func es256(_ kid: String) -> Pair {
        let key = ES256PrivateKey()
        let point = key.publicKey.parameters!
        return Pair(
            kid: kid,
            jwk: ["kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": point.x, "y": point.y],
            add: { signer, paths in
                await signer.add(ecdsa: key, kid: JWKIdentifier(string: kid), parser: paths.parser, serializer: paths.serializer)
            }
        )
    }

    /// An Ed25519 key published without `alg`: its type implies EdDSA.
    static func eddsa(_ kid: String) throws -> Pair {
        let key = try EdDSA.PrivateKey(curve: .ed25519)
        return Pair(
            kid: kid,
            jwk: ["kty": "OKP", "crv": "Ed25519", "kid": kid, "x": base64URL(key.publicKey.rawRepresentation)],
            add: { signer, paths in
                await signer.add(eddsa: key, kid: JWKIdentifier(string: kid), parser: paths.parser, serializer: paths.serializer)
            }
        )
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Writes the JWKS of `pairs`, and `extra` members as they are, to `path`.
    static func write(_ pairs: [Pair], extra: [[String: String]] = [], to path: String) throws {
        let document = ["keys": pairs.map(\.jwk) + extra]
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
    }

    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("ams-jwks-\(UUID().uuidString).json").path
    }
}

/// `IdentityProviderKeys`, `JWKSRefresher` and `TokenVerifier` over a JWKS file; no database.
@Suite struct IdentityProviderKeysTests {
    static let secret = TokenVerifierTests.userSecret
    let logger = Logger(label: "jwks-test")

    func code(_ body: () async throws -> some Any) async -> ErrorCode? {
        do {
            _ = try await body()
            return nil
        } catch {
            return (error as? ServiceError)?.code
        }
    }

    func configuration(file: String, serviceSecret: String? = nil) -> AppConfiguration {
        var config = AppConfiguration()
        config.jwtSecret = Self.secret
        config.serviceJWTSecret = serviceSecret
        config.jwtJWKSFile = file
        return config
    }

    /// A verifier over `file` with its refresher running (a long interval: only unknown kids make it read).
    func withProvider(
        _ config: AppConfiguration,
        throttle: FetchThrottle = FetchThrottle(),
        _ body: (TokenVerifier, IdentityProviderKeys, JWKSRefresher) async throws -> Void
    ) async throws {
        let keys = try #require(try await IdentityProviderKeys.make(config, throttle: throttle))
        let verifier = await TokenVerifier.make(config, identityProvider: keys)
        let refresher = JWKSRefresher(keys: keys, interval: .seconds(3600), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await refresher.run() }
            // The refresher's first read, at its start (seconds, with every suite running at once).
            #expect(try await eventually(30) { keys.reads >= 1 })
            try await body(verifier, keys, refresher)
            group.cancelAll()
        }
    }

    @Test func providerTokensVerifyByTheirKidBesideTheSharedSecret() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let es = TestIdentityProvider.es256("es-1")
        let ed = try TestIdentityProvider.eddsa("ed-1")
        // Keycloak publishes an encryption key beside its signing key; a symmetric key has no place here.
        let skipped = [
            ["kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "enc-1", "n": "AQAB", "e": "AQAB"],
            ["kty": "oct", "kid": "oct-1", "k": "c2VjcmV0"],
        ]
        try TestIdentityProvider.write([es, ed], extra: skipped, to: path)
        try await withProvider(configuration(file: path)) { verifier, keys, _ in
            #expect(keys.kids == ["ed-1", "es-1"])
            #expect(try await verifier.verify(try await es.token(subject: "alice")).sub.value == "alice")
            #expect(try await verifier.verify(try await ed.token(subject: "bob", roles: ["viewer"])).roles == ["viewer"])
            let shared = try await verifier.sign(subject: "carol", tenant: "t1", roles: [.admin], ttl: .seconds(60))
            #expect(try await verifier.verify(shared).sub.value == "carol")
            // The right kid, another key: the signature fails.
            let impostor = TestIdentityProvider.es256("es-1")
            #expect(await code { try await verifier.verify(try await impostor.token()) } == .invalidToken)
        }
    }

    @Test func providerTokensAreReadAtTheConfiguredClaimPaths() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let es = TestIdentityProvider.es256("es-1")
        try TestIdentityProvider.write([es], to: path)
        var config = configuration(file: path)
        config.jwtClaims = TokenVerifierTests.keycloak
        try await withProvider(config) { verifier, _, _ in
            let keycloak = try await es.token(tenant: "acme", roles: ["viewer"], paths: TokenVerifierTests.keycloak)
            let claims = try await verifier.verify(keycloak)
            #expect(claims.roles == ["viewer"] && claims.tenant_id == "acme")
            // The same key, the claims at the top level: no roles where this service looks.
            let flat = try await es.token()
            #expect(await code { try await verifier.verify(flat) } == .invalidToken)
        }
    }

    @Test func theAlgorithmComesFromTheKeyNeverFromTheToken() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let es = TestIdentityProvider.es256("es-1")
        let ed = try TestIdentityProvider.eddsa("ed-1")
        try TestIdentityProvider.write([es, ed], to: path)
        try await withProvider(configuration(file: path)) { verifier, _, _ in
            let good = try await es.token()
            let parts = good.split(separator: ".").map(String.init)
            func header(_ json: String) -> String { TestIdentityProvider.base64URL(Data(json.utf8)) }
            let none = header(#"{"alg":"none","kid":"es-1","typ":"JWT"}"#) + "." + parts[1] + "."
            #expect(await code { try await verifier.verify(none) } == .invalidToken)
            // The ES256 key named for an EdDSA signature: refused before any signature check.
            let relabelled = header(#"{"alg":"EdDSA","kid":"es-1","typ":"JWT"}"#) + "." + parts[1] + "." + parts[2]
            #expect(await code { try await verifier.verify(relabelled) } == .invalidToken)
            // HS256 keyed with the provider's public key, which anyone can read.
            let publicKey = try ES256PublicKey(parameters: (es.jwk["x"]!, es.jwk["y"]!)).pemRepresentation
            let confused = JWTKeyCollection()
            await confused.add(hmac: HMACKey(from: publicKey), digestAlgorithm: .sha256)
            let forged = try await confused.sign(
                AccessClaims(subject: "mallory", tenant: "t1", roles: ["admin"], expiry: Date().addingTimeInterval(60)),
                kid: "es-1"
            )
            #expect(await code { try await verifier.verify(forged) } == .invalidToken)
            #expect(try await verifier.verify(good).sub.value == "u")
        }
    }

    @Test func whenAServiceKeyIsSetProviderTokensCannotCarryTheServiceRole() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let es = TestIdentityProvider.es256("es-1")
        try TestIdentityProvider.write([es], to: path)
        try await withProvider(configuration(file: path, serviceSecret: TokenVerifierTests.serviceSecret)) { verifier, _, _ in
            let service = try await es.token(tenant: nil, roles: ["service"])
            #expect(await code { try await verifier.verify(service) } == .invalidToken)
            #expect(try await verifier.verify(try await es.token()).roles == ["editor"])
        }
    }

    /// A key rotated in works on its first token (the unknown kid reads the file at once); that read
    /// drops the rotated-out key, and its token, though cached, is refused from then on, while a
    /// key that stayed keeps its cached tokens.
    @Test func rotationTakesEffectAtTheNextReadEvenForCachedTokens() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let old = TestIdentityProvider.es256("old")
        let kept = try TestIdentityProvider.eddsa("kept")
        let new = TestIdentityProvider.es256("new")
        try TestIdentityProvider.write([old, kept], to: path)
        try await withProvider(configuration(file: path)) { verifier, keys, _ in
            let oldToken = try await old.token()
            let keptToken = try await kept.token()
            _ = try await verifier.verify(oldToken)
            _ = try await verifier.verify(keptToken)
            #expect(try await verifier.verify(oldToken).sub.value == "u", "cached")
            let hits = verifier.cache.hits

            try TestIdentityProvider.write([new, kept], to: path)
            #expect(try await verifier.verify(try await new.token(subject: "rotated-in")).sub.value == "rotated-in")
            #expect(keys.kids == ["kept", "new"])
            #expect(await code { try await verifier.verify(oldToken) } == .invalidToken)
            _ = try await verifier.verify(keptToken)
            #expect(verifier.cache.hits == hits + 1, "the kept key's token is still answered from the cache")
        }
    }

    @Test func aBurstOfUnknownKidsCostsOneRead() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let es = TestIdentityProvider.es256("es-1")
        try TestIdentityProvider.write([es], to: path)
        // A throttle of minutes: the burst must cost one read however slowly a loaded machine runs it
        // (FetchThrottleTests hold the 5 s themselves).
        try await withProvider(configuration(file: path), throttle: FetchThrottle(interval: .seconds(600))) { verifier, keys, _ in
            let before = keys.reads
            var tokens: [String] = []
            for i in 0..<20 { tokens.append(try await TestIdentityProvider.es256("unknown-\(i)").token()) }
            let codes = await withTaskGroup(of: ErrorCode?.self) { group in
                for token in tokens { group.addTask { await code { try await verifier.verify(token) } } }
                return await group.reduce(into: [ErrorCode?]()) { $0.append($1) }
            }
            #expect(codes.count == 20 && codes.allSatisfy { $0 == .invalidToken })
            #expect(keys.reads == before + 1)
            // Within the throttle's interval of that read, unknown kids one after another are refused without another.
            for token in tokens.prefix(3) { #expect(await code { try await verifier.verify(token) } == .invalidToken) }
            #expect(keys.reads == before + 1)
        }
    }

    @Test func aReadThatFailsKeepsTheKeysItHad() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let es = TestIdentityProvider.es256("es-1")
        try TestIdentityProvider.write([es], to: path)
        let keys = try #require(try await IdentityProviderKeys.make(configuration(file: path)))
        let verifier = await TokenVerifier.make(configuration(file: path), identityProvider: keys)
        let refresher = JWKSRefresher(keys: keys, interval: .seconds(3600), logger: logger)
        try Data("not a jwks".utf8).write(to: URL(fileURLWithPath: path))
        #expect(await refresher.refresh() == false)
        try FileManager.default.removeItem(atPath: path)
        #expect(await refresher.refresh() == false)
        #expect(try await verifier.verify(try await es.token()).sub.value == "u")
    }

    @Test func aFileThatIsNotAJWKSRefusesTheStart() async throws {
        let path = TestIdentityProvider.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"issuer":"x"}"#.utf8).write(to: URL(fileURLWithPath: path))
        await #expect(throws: ConfigurationError.self) { try await IdentityProviderKeys.make(configuration(file: path)) }
        await #expect(throws: ConfigurationError.self) { try await IdentityProviderKeys.make(configuration(file: path + ".missing")) }
        var none = AppConfiguration()
        none.jwtSecret = Self.secret
        #expect(try await IdentityProviderKeys.make(none) == nil)
    }

    @Test func theVariablesAreReadAndChecked() throws {
        let secret = ["AMS_JWT_SECRET": Self.secret]
        let defaults = try AppConfiguration.fromEnvironment(secret)
        #expect(defaults.jwtClaims == .standard && defaults.jwtJWKSURL == nil && defaults.jwtJWKSFile == nil)
        #expect(defaults.jwtJWKSRefresh == .seconds(300))
        let set = try AppConfiguration.fromEnvironment(
            secret.merging([
                "AMS_JWT_JWKS_URL": "http://127.0.0.1:8081/realms/ams/protocol/openid-connect/certs",
                "AMS_JWT_JWKS_FILE": "/etc/ams/jwks.json", "AMS_JWT_JWKS_REFRESH": "1m",
                "AMS_JWT_ROLES_CLAIM": "realm_access.roles", "AMS_JWT_TENANT_CLAIM": "tenant",
            ]) { $1 }
        )
        try set.check()
        #expect(set.jwtJWKSFile == "/etc/ams/jwks.json" && set.jwtJWKSRefresh == .seconds(60))
        #expect(set.jwtClaims.roles.components == ["realm_access", "roles"] && set.jwtClaims.tenant.components == ["tenant"])
        for (name, value) in [("AMS_JWT_ROLES_CLAIM", "a..b"), ("AMS_JWT_TENANT_CLAIM", ".tenant"), ("AMS_JWT_JWKS_REFRESH", "often")] {
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") {
                try AppConfiguration.fromEnvironment(secret.merging([name: value]) { $1 })
            }
        }
        for env in [
            ["AMS_JWT_JWKS_URL": "ftp://idp.example/jwks"], ["AMS_JWT_JWKS_URL": "idp.example/jwks"], ["AMS_JWT_JWKS_REFRESH": "100ms"],
            ["AMS_JWT_ROLES_CLAIM": "claims", "AMS_JWT_TENANT_CLAIM": "claims.tenant"], ["AMS_JWT_TENANT_CLAIM": "roles"],
            ["AMS_JWT_TENANT_CLAIM": "sub"],
        ] {
            #expect(throws: ConfigurationError.self, "\(env)") { try AppConfiguration.fromEnvironment(secret.merging(env) { $1 }).check() }
        }
    }
}

/// The unknown-kid throttle on its own, with instants made up.
@Suite struct FetchThrottleTests {
    let start = ContinuousClock.now

    @Test func aBurstWaitsForOneReadAndLaterAsksAreRefusedForFiveSeconds() {
        var throttle = FetchThrottle()
        #expect(throttle.unknownKey(at: start) == .fetch(1))
        for i in 1..<20 { #expect(throttle.unknownKey(at: start + .milliseconds(i)) == .wait(1)) }
        throttle.begin()
        #expect(throttle.unknownKey(at: start + .milliseconds(50)) == .wait(1))
        throttle.finish()
        #expect(throttle.unknownKey(at: start + .seconds(1)) == .refuse)
        #expect(throttle.unknownKey(at: start + .milliseconds(4999)) == .refuse)
        #expect(throttle.unknownKey(at: start + .seconds(5)) == .fetch(2))
    }

    /// A read that was already running may have started before the key was published: the ask
    /// waits for the next read.
    @Test func anAskDuringARunningReadWaitsForTheNext() {
        var throttle = FetchThrottle()
        throttle.begin()
        #expect(throttle.unknownKey(at: start) == .fetch(2))
        throttle.finish()
        #expect(throttle.unknownKey(at: start + .seconds(1)) == .wait(2))
        throttle.begin()
        throttle.finish()
        #expect(throttle.unknownKey(at: start + .seconds(2)) == .refuse)
    }

    @Test func periodicReadsDoNotCountAgainstTheLimit() {
        var throttle = FetchThrottle()
        for _ in 0..<3 {
            throttle.begin()
            throttle.finish()
        }
        #expect(throttle.unknownKey(at: start) == .fetch(4))
    }
}
