import Foundation
import JWTKit

/// Where a claim sits in a token's payload: a name, or a dotted path into nested objects such as
/// Keycloak's `realm_access.roles` (`AMS_JWT_ROLES_CLAIM`, `AMS_JWT_TENANT_CLAIM`).
struct ClaimPath: Sendable, Hashable, CustomStringConvertible {
    let components: [String]

    /// `nil` for an empty path or an empty component (`a..b`, `.a`).
    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: \.isEmpty) else { return nil }
        components = parts
    }

    var description: String { components.joined(separator: ".") }

    /// The value at this path; `nil` when a member on the way, or the claim itself, is missing or null.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, in container: KeyedDecodingContainer<ClaimKey>) throws -> T? {
        var container = container
        for name in components.dropLast() {
            let key = ClaimKey(name)
            guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
            container = try container.nestedContainer(keyedBy: ClaimKey.self, forKey: key)
        }
        return try container.decodeIfPresent(T.self, forKey: ClaimKey(components[components.count - 1]))
    }

    func decode<T: Decodable>(_ type: T.Type, in container: KeyedDecodingContainer<ClaimKey>) throws -> T {
        guard let value = try decodeIfPresent(type, in: container) else {
            throw DecodingError.keyNotFound(ClaimKey(description), .init(codingPath: container.codingPath, debugDescription: "no claim at \(self)"))
        }
        return value
    }
}

/// The claims that carry a token's roles and tenant. Every token is read at them, the service's own
/// HS256 tokens as much as an identity provider's, and `TokenVerifier.sign` writes them there.
struct ClaimPaths: Sendable, Hashable, CustomStringConvertible {
    static let standard = ClaimPaths(roles: ClaimPath("roles")!, tenant: ClaimPath("tenant_id")!)
    /// The claims `AccessClaims` reads by name; the paths may not start with them.
    static let registered: Set<String> = ["sub", "exp", "iss", "aud"]
    /// Where `AccessClaims` finds the paths when it is decoded or encoded.
    static let userInfoKey = CodingUserInfoKey(rawValue: "ams.claimPaths")!

    var roles: ClaimPath
    var tenant: ClaimPath

    var description: String { "roles: \(roles), tenant: \(tenant)" }

    /// Why these paths cannot be written into one payload, or `nil`: the two claims must differ,
    /// neither inside the other, and neither may be a registered claim.
    var conflict: String? {
        let (r, t) = (roles.components, tenant.components)
        if r.starts(with: t) || t.starts(with: r) { return "the roles and tenant claims must differ, neither inside the other" }
        if Self.registered.contains(r[0]) || Self.registered.contains(t[0]) { return "sub, exp, iss and aud are not roles or tenant claims" }
        return nil
    }

    /// A parser whose decoder hands these paths to `AccessClaims`.
    var parser: DefaultJWTParser {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        decoder.userInfo[Self.userInfoKey] = self
        return DefaultJWTParser(jsonDecoder: decoder)
    }

    /// A serializer whose encoder hands these paths to `AccessClaims`.
    var serializer: DefaultJWTSerializer {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.userInfo[Self.userInfoKey] = self
        return DefaultJWTSerializer(jsonEncoder: encoder)
    }
}

/// A payload member by name.
struct ClaimKey: CodingKey, ExpressibleByStringLiteral {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) { stringValue = name }
    init(stringLiteral name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
