public import Foundation

/// What a secret rotation answers: the endpoint, and when the secret it replaced stops signing.
public struct WebhookRotation: Sendable, Hashable {
    public var webhook: Webhook
    public var previousExpiresAt: Date

    public init(webhook: Webhook, previousExpiresAt: Date) {
        self.webhook = webhook
        self.previousExpiresAt = previousExpiresAt
    }
}
