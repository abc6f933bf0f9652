import Foundation

/// The `alg` and `kid` of a compact JWT's header, read before a key is chosen: `kid` picks an
/// identity provider's key, and `alg` must be that key's own algorithm (or HS256 for the shared secrets).
struct TokenHeader: Decodable, Sendable {
    struct Malformed: Error {}

    let alg: String?
    let kid: String?

    private static let decoder = JSONDecoder()

    init(token: String) throws {
        guard let end = token.firstIndex(of: ".") else { throw Malformed() }
        var base64 = token[..<end].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { throw Malformed() }
        self = try Self.decoder.decode(TokenHeader.self, from: data)
    }
}
