import Domain
import Foundation
import Infra
import JWTKit

/// The claims of an AMS token.
struct AccessClaims: JWTPayload, Equatable {
    var sub: SubjectClaim
    var tenant_id: String?
    var roles: [String]
    var exp: ExpirationClaim
    var iss: IssuerClaim?
    var aud: AudienceClaim?

    init(subject: String, tenant: String?, roles: [String], expiry: Date, issuer: String? = nil, audience: [String]? = nil) {
        sub = .init(value: subject)
        tenant_id = tenant
        self.roles = roles
        exp = .init(value: expiry)
        iss = issuer.map { IssuerClaim(value: $0) }
        aud = audience.map { AudienceClaim(value: $0) }
    }

    var isService: Bool { roles.contains(Role.service.rawValue) }

    /// Nothing here: `TokenVerifier` checks `exp` (with its leeway), `iss`, `aud` and which key may
    /// sign which roles once the signature holds, because those checks need its configuration.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// HS256 tokens. User tokens are signed with `AMS_JWT_SECRET`. When `AMS_SERVICE_JWT_SECRET` is set,
/// a token carrying the `service` role is accepted only when signed with it, and a token signed with
/// it must carry `service`: whoever holds the user-token key cannot mint cross-tenant tokens.
/// Neither key needs a `kid`: the user key is tried first, then the service key.
///
/// Verified tokens are cached (see `VerifiedTokenCache`) until their `exp` plus the leeway, so a
/// repeated token costs one dictionary lookup instead of two JSON decodes and an HMAC.
/// Failures are AMS-202 (bad, forged, not for us) or AMS-203 (expired).
struct TokenVerifier: Sendable {
    static let defaultLeeway = Duration.seconds(30)
    static let defaultCacheCapacity = 10_000

    private let userKeys: JWTKeyCollection
    /// `nil` when no service secret is configured: then the user key signs every token.
    private let serviceKeys: JWTKeyCollection?
    let issuer: String?
    let audience: String?
    /// Clock skew allowed on `exp`, in seconds.
    let leeway: TimeInterval
    let cache: VerifiedTokenCache
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - secret: `AMS_JWT_SECRET`.
    ///   - serviceSecret: `AMS_SERVICE_JWT_SECRET`; when set, the only key for `service` tokens.
    ///   - issuer: when set, `iss` must equal it; `sign` writes it.
    ///   - audience: when set, `aud` must contain it; `sign` writes it.
    ///   - clock: the current time; tests move it.
    init(
        secret: String,
        serviceSecret: String? = nil,
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Duration = defaultLeeway,
        cacheCapacity: Int = defaultCacheCapacity,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async {
        userKeys = JWTKeyCollection()
        await userKeys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        if let serviceSecret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: serviceSecret), digestAlgorithm: .sha256)
            serviceKeys = keys
        } else {
            serviceKeys = nil
        }
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway.seconds
        cache = VerifiedTokenCache(capacity: cacheCapacity)
        now = clock
    }

    /// The verifier the service runs with.
    static func make(_ config: AppConfiguration) async -> TokenVerifier {
        await TokenVerifier(
            secret: config.jwtSecret,
            serviceSecret: config.serviceJWTSecret,
            issuer: config.jwtIssuer,
            audience: config.jwtAudience
        )
    }

    func verify(_ token: String) async throws -> AccessClaims {
        let now = now()
        switch cache.lookup(token, now: now) {
        case .hit(let claims): return claims
        case .expired: throw Self.expired
        case .miss: break
        }
        let claims = try await verifyUncached(token, now: now)
        cache.store(token, claims: claims, until: claims.exp.value.addingTimeInterval(leeway), now: now)
        return claims
    }

    private func verifyUncached(_ token: String, now: Date) async throws -> AccessClaims {
        let (claims, signedWithServiceKey) = try await checkSignature(token)
        if serviceKeys != nil {
            if claims.isService && !signedWithServiceKey {
                throw ServiceError(.invalidToken, "Service tokens must be signed with the service key")
            }
            if !claims.isService && signedWithServiceKey {
                throw ServiceError(.invalidToken, "Tokens signed with the service key must carry the service role")
            }
        }
        if let issuer, claims.iss?.value != issuer {
            throw ServiceError(.invalidToken, "Token issuer is not accepted")
        }
        if let audience, claims.aud?.value.contains(audience) != true {
            throw ServiceError(.invalidToken, "Token is not intended for this service")
        }
        guard now < claims.exp.value.addingTimeInterval(leeway) else { throw Self.expired }
        return claims
    }

    /// The claims, and whether the service key (rather than the user key) signed them.
    private func checkSignature(_ token: String) async throws -> (AccessClaims, Bool) {
        do {
            return (try await userKeys.verify(token, as: AccessClaims.self), false)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            guard let serviceKeys else { throw Self.invalid }
            do {
                return (try await serviceKeys.verify(token, as: AccessClaims.self), true)
            } catch {
                throw Self.invalid
            }
        } catch {
            throw Self.invalid
        }
    }

    private static let invalid = ServiceError(.invalidToken, "Token is malformed or its signature is invalid")
    private static let expired = ServiceError(.expiredToken, "Token has expired")

    /// A token for `subject`, with the configured issuer and audience; signed with the service key
    /// when `roles` include `service` and a service key is configured, else with the user key.
    func sign(subject: String, tenant: String?, roles: [Role], ttl: Duration) async throws -> String {
        let expiry = Date(timeIntervalSince1970: (now().timeIntervalSince1970 + Double(ttl.components.seconds)).rounded(.down))
        return try await sign(
            AccessClaims(
                subject: subject,
                tenant: tenant,
                roles: roles.map(\.rawValue),
                expiry: expiry,
                issuer: issuer,
                audience: audience.map { [$0] }
            )
        )
    }

    /// Signs `claims` as they are, choosing the key as `sign(subject:tenant:roles:ttl:)` does.
    func sign(_ claims: AccessClaims) async throws -> String {
        let keys = (claims.isService ? serviceKeys : nil) ?? userKeys
        return try await keys.sign(claims)
    }
}
