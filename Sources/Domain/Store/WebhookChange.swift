/// What a PATCH sets; `nil` leaves a field as it is (`description: .some(nil)` removes it).
public struct WebhookChange: Sendable, Hashable {
    public var url: String?
    public var events: [String]?
    public var description: String??
    public var status: Webhook.Status?

    public init(url: String? = nil, events: [String]? = nil, description: String?? = nil, status: Webhook.Status? = nil) {
        self.url = url
        self.events = events
        self.description = description
        self.status = status
    }
}
