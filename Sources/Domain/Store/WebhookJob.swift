public import Foundation

/// A leased endpoint, with what its deliveries need.
public struct WebhookJob: Sendable, Hashable {
    public var tenantID: TenantID
    public var id: UUID
    public var url: String
    public var events: [String]
    public var secret: String
    /// Names this claim: the store honours the job's writes only while the lease is still its own.
    public var lease: UUID
    /// Sequence through which the endpoint is done.
    public var delivered: Int64
    /// Attempts already made at the event after `delivered`.
    public var attempts: Int

    public init(tenantID: TenantID, id: UUID, url: String, events: [String], secret: String, lease: UUID, delivered: Int64, attempts: Int) {
        self.tenantID = tenantID
        self.id = id
        self.url = url
        self.events = events
        self.secret = secret
        self.lease = lease
        self.delivered = delivered
        self.attempts = attempts
    }

    public func wants(_ event: String) -> Bool { events.contains("*") || events.contains(event) }
}
