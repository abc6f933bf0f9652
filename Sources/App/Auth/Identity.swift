import Domain
import Foundation

/// The verified caller of a request.
struct Identity: Sendable {
    var subject: String
    var roles: Set<Role>
    /// The tenant the request acts on; `nil` only on `/internal/*`.
    var tenantID: TenantID?
    /// The token's `exp` (the leeway not added): a long-lived event socket ends with it.
    var expires: Date?

    func require(_ permission: Permission) throws {
        guard permission.granted(by: roles) else {
            throw ServiceError(.forbidden, "Role not allowed", details: ["roles": .array(roles.map(\.rawValue).sorted().map(JSONValue.string))])
        }
    }
}

extension AppRequestContext {
    /// Who is writing, for the history entry of the write.
    func audit(_ identity: Identity) -> Audit {
        Audit(actor: identity.subject, roles: identity.roles.map(\.rawValue).sorted(), requestID: requestID, traceparent: traceparent)
    }

    /// The caller and its tenant, for routes behind the tenant-scoped `AuthMiddleware`.
    func caller(_ permission: Permission) throws -> (Identity, TenantID) {
        guard let identity, let tenant = identity.tenantID else { throw ServiceError(.missingToken, "Authentication required") }
        try identity.require(permission)
        return (identity, tenant)
    }
}
