import Foundation
import JWTKit

/// The signing keys of one JWKS document by `kid`, each bound to the one algorithm it verifies:
/// the key's `alg`, or when that is absent the algorithm its type implies (RSA: RS256; EC: ES256,
/// ES384 or ES512 by curve; OKP Ed25519: EdDSA). A token's `alg` never chooses it.
///
/// Keys for encryption (`use: enc`), without a `kid`, or of a type or algorithm that cannot verify
/// signatures are skipped and reported, so one odd key (Keycloak publishes an `RSA-OAEP` key beside
/// its signing key) does not lose the set.
struct JWKSKeySet: Sendable {
    struct Key: Sendable {
        let algorithm: String
        /// The published material: a reload that finds the same key keeps its `serial`.
        let fingerprint: String
        /// Numbers this key in `IdentityProviderKeys`; a cached verification names it.
        var serial = 0
    }

    static let algorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

    var keys: [String: Key]
    /// Verifies with these keys only; a `kid` is looked up in `keys` before it is used.
    let collection: JWTKeyCollection
    /// The keys left out, each as its `kid` (or position) and why.
    let skipped: [String]

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// The keys of `data`, a JWKS (`{"keys": [...]}`); throws when it is not one.
    static func load(_ data: Data, paths: ClaimPaths) async throws -> JWKSKeySet {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw Invalid(description: "not a JWKS: \(error)")
        }
        let collection = JWTKeyCollection(defaultJWTParser: paths.parser, defaultJWTSerializer: paths.serializer)
        var keys: [String: Key] = [:]
        var skipped: [String] = []
        for (index, entry) in document.keys.enumerated() {
            let name = entry.kid ?? "#\(index)"
            guard entry.use != "enc" else {
                skipped.append("\(name): for encryption")
                continue
            }
            guard let kid = entry.kid, var jwk = entry.jwk else {
                skipped.append("\(name): no kid, or a key type jwt-kit cannot read")
                continue
            }
            guard let algorithm = jwk.algorithm ?? implied(jwk), Self.algorithms.contains(algorithm.rawValue) else {
                skipped.append("\(name): no signing algorithm")
                continue
            }
            jwk.algorithm = algorithm
            do {
                try await collection.add(jwk: jwk)
            } catch {
                skipped.append("\(name): \(error)")
                continue
            }
            keys[kid] = Key(algorithm: algorithm.rawValue, fingerprint: fingerprint(jwk))
        }
        return JWKSKeySet(keys: keys, collection: collection, skipped: skipped)
    }

    private static func implied(_ jwk: JWK) -> JWK.Algorithm? {
        switch (jwk.keyType, jwk.curve?.rawValue ?? "") {
        case (.rsa, _): .rs256
        case (.ecdsa, "P-256"): .es256
        case (.ecdsa, "P-384"): .es384
        case (.ecdsa, "P-521"): .es512
        case (.octetKeyPair, "Ed25519"): .eddsa
        default: nil
        }
    }

    private static func fingerprint(_ jwk: JWK) -> String {
        [jwk.keyType.rawValue, jwk.algorithm?.rawValue, jwk.curve?.rawValue, jwk.modulus, jwk.exponent, jwk.x, jwk.y]
            .map { $0 ?? "" }.joined(separator: "|")
    }

    private struct Document: Decodable {
        let keys: [Entry]
    }

    /// One member of `keys`, read leniently: `jwk` is `nil` when jwt-kit cannot read it.
    private struct Entry: Decodable {
        let use: String?
        let kid: String?
        let jwk: JWK?

        private enum CodingKeys: String, CodingKey { case use, kid }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            use = try? container.decodeIfPresent(String.self, forKey: .use)
            kid = try? container.decodeIfPresent(String.self, forKey: .kid)
            jwk = try? JWK(from: decoder)
        }
    }
}
