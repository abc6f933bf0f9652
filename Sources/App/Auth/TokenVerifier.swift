import Domain
import Foundation
import JWTKit

/// The claims of an AMS token.
struct AccessClaims: JWTPayload {
    var sub: SubjectClaim
    var tenant_id: String?
    var roles: [String]
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// HS256 tokens signed with `AMS_JWT_SECRET`; verification errors map to AMS-202 or AMS-203.
struct TokenVerifier: Sendable {
    let keys: JWTKeyCollection

    init(secret: String) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    func verify(_ token: String) async throws -> AccessClaims {
        do {
            return try await keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw ServiceError(.expiredToken, "Token has expired")
        } catch {
            throw ServiceError(.invalidToken, "Token is malformed or its signature is invalid")
        }
    }

    func sign(subject: String, tenant: String?, roles: [Role], ttl: Duration) async throws -> String {
        let expiry = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(ttl.components.seconds)).rounded(.down))
        let claims = AccessClaims(sub: .init(value: subject), tenant_id: tenant, roles: roles.map(\.rawValue), exp: .init(value: expiry))
        return try await keys.sign(claims)
    }
}
