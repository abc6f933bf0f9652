public import Foundation

/// An endpoint's signing secret as Standard Webhooks defines it: `whsec_` and the base64 of 32
/// random bytes, whose decoded bytes are the HMAC key, so a receiver hands the string as shown to
/// any Standard Webhooks library.
public enum WebhookSecret {
    public static let prefix = "whsec_"

    /// How long the secret a rotation replaced keeps signing beside the new one.
    public static let overlap: Duration = .seconds(24 * 3600)

    /// A new secret: 32 bytes from the system's generator.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + Data(bytes).base64EncodedString()
    }

    /// The HMAC key: the bytes that the base64 after `whsec_` decodes to, as the libraries take it.
    /// The secrets of earlier releases (`whsec_` and 64 hex digits) are valid base64 too, so they
    /// keep working, keyed as a library keys them. A secret that is no base64 at all (none this
    /// service made) is keyed with its UTF-8 bytes.
    public static func key(_ secret: String) -> [UInt8] {
        let encoded = secret.hasPrefix(prefix) ? secret.dropFirst(prefix.count) : Substring(secret)
        if !encoded.isEmpty, let bytes = Data(base64Encoded: String(encoded)) { return Array(bytes) }
        return Array(secret.utf8)
    }
}
