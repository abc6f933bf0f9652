import Domain
import Foundation
import Testing

/// The endpoint secret as Standard Webhooks has it, and the key each kind of secret signs with.
struct WebhookSecretTests {
    @Test func aSecretIsWhsecAndTheBase64Of32RandomBytesWhichAreItsKey() throws {
        let secrets = (0..<50).map { _ in WebhookSecret.make() }
        #expect(Set(secrets).count == 50)
        for secret in secrets {
            #expect(secret.hasPrefix("whsec_") && secret.count == 6 + 44, "\(secret)")
            let bytes = try #require(Data(base64Encoded: String(secret.dropFirst(6))), "\(secret)")
            #expect(bytes.count == 32 && WebhookSecret.key(secret) == Array(bytes))
        }
    }

    /// An earlier release's secret (`whsec_` and 64 hex digits) is valid base64: keyed with what it
    /// decodes to, as the libraries decode it, so a receiver keeps its secret. One that is no base64
    /// (none this service made) is keyed with its UTF-8 bytes, as before.
    @Test func olderSecretsKeepAKey() {
        let hex = "whsec_" + String(repeating: "0123456789abcdef", count: 4)
        #expect(WebhookSecret.key(hex) == Array(Data(base64Encoded: String(repeating: "0123456789abcdef", count: 4))!))
        #expect(WebhookSecret.key(hex).count == 48)
        #expect(WebhookSecret.key("whsec_x") == Array("whsec_x".utf8))
        #expect(WebhookSecret.key("whsec_") == Array("whsec_".utf8))
        #expect(WebhookSecret.key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == WebhookSecret.key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    }
}
