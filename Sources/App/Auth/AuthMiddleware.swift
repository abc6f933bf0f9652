import Domain
import HTTPTypes
import Hummingbird

/// Verifies the bearer token and settles which tenant the request acts on.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    enum Scope: Sendable {
        /// `/v1/*`: a user token's own tenant, or a service token's `X-Tenant-ID`.
        case tenant
        /// `/internal/*`: service tokens only.
        case `internal`
    }

    let verifier: TokenVerifier
    let scope: Scope

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try await Self.identity(
            token: request.headers.value(.authorization)?.bearerToken.map(String.init),
            tenantHeader: request.headers.value(.tenantID),
            scope: scope,
            verifier: verifier
        )
        return try await next(request, context)
    }

    /// Who presents `token`, and for a tenant scope the tenant it acts on (also for the event
    /// WebSocket, whose token may come in its first frame).
    static func identity(token: String?, tenantHeader: String?, scope: Scope, verifier: TokenVerifier) async throws -> Identity {
        guard let token else {
            throw ServiceError(.missingToken, "Authentication required")
        }
        let claims = try await verifier.verify(token)
        let roles = Set(claims.roles.compactMap(Role.init(rawValue:)))
        var identity = Identity(subject: claims.sub.value, roles: roles, tenantID: nil, expires: claims.exp.value)
        switch scope {
        case .internal:
            guard roles.contains(.service) else { throw ServiceError(.forbidden, "Only service tokens may call internal endpoints") }
        case .tenant:
            let named = tenantHeader.flatMap { $0.isEmpty ? nil : $0 }
            if roles.contains(.service) {
                guard let named else { throw ServiceError(.missingTenantHeader, "Service tokens must name the tenant in X-Tenant-ID") }
                guard Tenant.isValidID(named) else {
                    throw ServiceError(.invalidTenantHeader, "X-Tenant-ID must be 1–128 printable characters without spaces")
                }
                identity.tenantID = named
            } else {
                guard let own = claims.tenant_id, Tenant.isValidID(own) else { throw ServiceError(.invalidToken, "Token has no valid tenant_id") }
                if let named, named != own { throw ServiceError(.tenantMismatch, "X-Tenant-ID differs from the token's tenant") }
                identity.tenantID = own
            }
            guard !roles.isEmpty else { throw ServiceError(.forbidden, "Token has no known role") }
        }
        return identity
    }
}
