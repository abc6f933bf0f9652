import Domain
import Foundation
import Infra
import JWTKit

/// Verifies bearer tokens. HS256 user tokens are signed with `AMS_JWT_SECRET`. When `AMS_SERVICE_JWT_SECRET` is set,
/// a token carrying the `service` role is accepted only when signed with it, and a token signed with
/// it must carry `service`: whoever holds the user-token key cannot mint cross-tenant tokens.
/// Neither key needs a `kid`: the user key is tried first, then the service key.
///
/// Beside them, an identity provider's RS256, ES256 or EdDSA tokens (`IdentityProviderKeys`): the
/// token's `kid` picks the key, and its `alg` must be the key's own algorithm. An `alg` that is
/// neither HS256 nor a key's is refused (`none` among them), and so is an HS256 token keyed with a
/// provider's public key: HS256 only ever means the shared secrets.
///
/// Verified tokens are cached (see `VerifiedTokenCache`) until their `exp` plus the leeway, so a
/// repeated token costs one dictionary lookup instead of two JSON decodes and a signature check.
/// Failures are AMS-202 (bad, forged, not for us) or AMS-203 (expired).
struct TokenVerifier: Sendable {
    static let defaultLeeway = Duration.seconds(30)
    static let defaultCacheCapacity = 10_000

    /// Which key verified a token.
    private enum Signer: Equatable {
        case user, service
        case provider(IdentityProviderKeys.Tag)
    }

    private let userKeys: JWTKeyCollection
    /// `nil` when no service secret is configured: then the user key signs every token.
    private let serviceKeys: JWTKeyCollection?
    /// `nil` when neither `AMS_JWT_JWKS_URL` nor `AMS_JWT_JWKS_FILE` is set.
    let identityProvider: IdentityProviderKeys?
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
    ///   - claims: where roles and tenant are read, and written by `sign`.
    ///   - identityProvider: the provider's keys, beside the shared secrets.
    ///   - clock: the current time; tests move it.
    init(
        secret: String,
        serviceSecret: String? = nil,
        issuer: String? = nil,
        audience: String? = nil,
        claims: ClaimPaths = .standard,
        identityProvider: IdentityProviderKeys? = nil,
        leeway: Duration = defaultLeeway,
        cacheCapacity: Int = defaultCacheCapacity,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async {
        // Each key keeps the parser and serializer it is added with: these carry the claim paths.
        userKeys = JWTKeyCollection()
        await userKeys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, parser: claims.parser, serializer: claims.serializer)
        self.identityProvider = identityProvider
        if let serviceSecret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: serviceSecret), digestAlgorithm: .sha256, parser: claims.parser, serializer: claims.serializer)
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

    /// The verifier the service runs with (`IdentityProviderKeys.make` reads the provider's keys).
    static func make(_ config: AppConfiguration, identityProvider: IdentityProviderKeys? = nil) async -> TokenVerifier {
        await TokenVerifier(
            secret: config.jwtSecret,
            serviceSecret: config.serviceJWTSecret,
            issuer: config.jwtIssuer,
            audience: config.jwtAudience,
            claims: config.jwtClaims,
            identityProvider: identityProvider
        )
    }

    func verify(_ token: String) async throws -> AccessClaims {
        let now = now()
        switch cache.lookup(token, now: now, keyIsCurrent: { identityProvider?.isCurrent($0) ?? false }) {
        case .hit(let claims): return claims
        case .expired: throw Self.expired
        case .miss: break
        }
        let (claims, signer) = try await verifyUncached(token, now: now)
        var key: IdentityProviderKeys.Tag?
        if case .provider(let tag) = signer { key = tag }
        cache.store(token, claims: claims, key: key, until: claims.exp.value.addingTimeInterval(leeway), now: now)
        return claims
    }

    private func verifyUncached(_ token: String, now: Date) async throws -> (AccessClaims, Signer) {
        let (claims, signer) = try await checkSignature(token)
        if serviceKeys != nil {
            if claims.isService && signer != .service {
                throw ServiceError(.invalidToken, "Service tokens must be signed with the service key")
            }
            if !claims.isService && signer == .service {
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
        return (claims, signer)
    }

    /// The claims, and the key that signed them. The header's `alg` says only which kind of key
    /// to look for: HS256 the shared secrets, anything else a provider's key by `kid`, whose own
    /// algorithm `alg` must then name.
    private func checkSignature(_ token: String) async throws -> (AccessClaims, Signer) {
        guard let header = try? TokenHeader(token: token), let alg = header.alg else { throw Self.invalid }
        if alg == "HS256" { return try await checkSharedSecret(token) }
        guard let identityProvider, JWKSKeySet.algorithms.contains(alg), let kid = header.kid else { throw Self.invalid }
        var found = identityProvider.key(kid)
        if found == nil, await identityProvider.readForUnknownKey() {
            found = identityProvider.key(kid)
        }
        guard let found, found.algorithm == alg else { throw Self.invalid }
        do {
            return (try await found.collection.verify(token, as: AccessClaims.self), .provider(found.tag))
        } catch {
            throw Self.invalid
        }
    }

    private func checkSharedSecret(_ token: String) async throws -> (AccessClaims, Signer) {
        do {
            return (try await userKeys.verify(token, as: AccessClaims.self), .user)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            guard let serviceKeys else { throw Self.invalid }
            do {
                return (try await serviceKeys.verify(token, as: AccessClaims.self), .service)
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
