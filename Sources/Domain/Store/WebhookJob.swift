public import Foundation

/// A leased endpoint, with what its deliveries need.
public struct WebhookJob: Sendable, Hashable {
    public var tenantID: TenantID
    public var id: UUID
    public var url: String
    public var events: [String]
    public var secret: String
    /// The secret a rotation replaced, while it still signs beside `secret`.
    public var previousSecret: String?
    /// Names this claim: the store honours the job's writes only while the lease is still its own.
    public var lease: UUID
    /// Sequence through which the endpoint is done.
    public var delivered: Int64
    /// Attempts already made at the event after `delivered`.
    public var attempts: Int
    /// Set when the tenant's events after `delivered` were purged, up to a point, before the
    /// endpoint got them: it hears of that first (`ChangeEvent.skipped`).
    public var missed: Missed?

    /// What the purge took before the endpoint got it.
    public struct Missed: Sendable, Hashable {
        /// The newest of the tenant's events the endpoint missed.
        public var through: Int64
        /// The id of the `events_skipped` event that tells it so: the same on every attempt.
        public var eventID: UUID

        public init(through: Int64, eventID: UUID) {
            self.through = through
            self.eventID = eventID
        }
    }

    public init(
        tenantID: TenantID,
        id: UUID,
        url: String,
        events: [String],
        secret: String,
        previousSecret: String? = nil,
        lease: UUID,
        delivered: Int64,
        attempts: Int,
        missed: Missed? = nil
    ) {
        self.tenantID = tenantID
        self.id = id
        self.url = url
        self.events = events
        self.secret = secret
        self.previousSecret = previousSecret
        self.lease = lease
        self.delivered = delivered
        self.attempts = attempts
        self.missed = missed
    }

    /// The secrets each delivery is signed with: the current one, and the one a rotation replaced
    /// while it still signs.
    public var secrets: [String] { [secret] + (previousSecret.map { [$0] } ?? []) }

    /// Whether the endpoint gets `event`: one it subscribed to, or the news of a gap, which every endpoint gets.
    public func wants(_ event: String) -> Bool { event == ChangeEvent.eventsSkipped || events.contains("*") || events.contains(event) }
}
