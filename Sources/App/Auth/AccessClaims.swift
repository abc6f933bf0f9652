import Foundation
import JWTKit

/// The claims of an AMS token. `roles` and `tenant_id` are read and written at the coder's
/// `ClaimPaths` (`ClaimPaths.parser`, `ClaimPaths.serializer`), by default the top-level `roles`
/// (required) and `tenant_id` (optional).
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

    init(from decoder: any Decoder) throws {
        let paths = decoder.userInfo[ClaimPaths.userInfoKey] as? ClaimPaths ?? .standard
        let container = try decoder.container(keyedBy: ClaimKey.self)
        sub = try container.decode(SubjectClaim.self, forKey: "sub")
        exp = try container.decode(ExpirationClaim.self, forKey: "exp")
        iss = try container.decodeIfPresent(IssuerClaim.self, forKey: "iss")
        aud = try container.decodeIfPresent(AudienceClaim.self, forKey: "aud")
        roles = try paths.roles.decode([String].self, in: container)
        tenant_id = try paths.tenant.decodeIfPresent(String.self, in: container)
    }

    func encode(to encoder: any Encoder) throws {
        let paths = encoder.userInfo[ClaimPaths.userInfoKey] as? ClaimPaths ?? .standard
        var container = encoder.container(keyedBy: ClaimKey.self)
        try container.encode(sub, forKey: "sub")
        try container.encode(exp, forKey: "exp")
        try container.encodeIfPresent(iss, forKey: "iss")
        try container.encodeIfPresent(aud, forKey: "aud")
        var nested = ClaimTree()
        nested.insert(.strings(roles), at: paths.roles.components[...])
        if let tenant_id { nested.insert(.string(tenant_id), at: paths.tenant.components[...]) }
        try nested.encodeMembers(into: &container)
    }

    var isService: Bool { roles.contains(Role.service.rawValue) }

    /// Nothing here: `TokenVerifier` checks `exp` (with its leeway), `iss`, `aud` and which key may
    /// sign which roles once the signature holds, because those checks need its configuration.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The roles and tenant as `AccessClaims` writes them: nested objects where their paths have dots,
/// one object for paths that share a start.
private struct ClaimTree: Encodable {
    enum Leaf: Encodable {
        case strings([String])
        case string(String)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .strings(let values): try container.encode(values)
            case .string(let value): try container.encode(value)
            }
        }
    }

    var leaves: [String: Leaf] = [:]
    var branches: [String: ClaimTree] = [:]

    mutating func insert(_ leaf: Leaf, at path: ArraySlice<String>) {
        guard let name = path.first else { return }
        if path.count == 1 {
            leaves[name] = leaf
        } else {
            branches[name, default: ClaimTree()].insert(leaf, at: path.dropFirst())
        }
    }

    func encodeMembers(into container: inout KeyedEncodingContainer<ClaimKey>) throws {
        for (name, leaf) in leaves.sorted(by: { $0.key < $1.key }) { try container.encode(leaf, forKey: ClaimKey(name)) }
        for (name, branch) in branches.sorted(by: { $0.key < $1.key }) { try container.encode(branch, forKey: ClaimKey(name)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: ClaimKey.self)
        try encodeMembers(into: &container)
    }
}
