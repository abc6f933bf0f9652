public import Foundation

/// Webhook endpoints and their deliveries, tenant-scoped like agents; the dispatch calls hand an
/// endpoint to one delivering replica at a time (a lease), so its events go out in order.
public protocol WebhookStore: Sendable {
    /// Registers an endpoint that hears the events committed from now on; `quotaReached` when the
    /// tenant has `limit` endpoints already (counted under a lock on the tenant's endpoints).
    func createWebhook(_ webhook: Webhook, secret: String, limit: Int, tier: Tier) async throws -> Webhook
    func webhook(_ id: UUID, tenant: TenantID) async throws -> Webhook?
    func webhooks(tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<Webhook>
    /// Changes the fields `change` sets, and only those. One that becomes active again starts with a
    /// clean failure count and is due at once; a change of url, events or status takes the endpoint
    /// from the worker delivering to it (which stops at its next attempt). `nil`: no such endpoint.
    func updateWebhook(_ id: UUID, tenant: TenantID, _ change: WebhookChange) async throws -> Webhook?
    func deleteWebhook(_ id: UUID, tenant: TenantID) async throws -> Bool
    /// Attempts, newest first.
    func deliveries(webhook: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<WebhookDelivery>

    /// Leases up to `limit` active endpoints that have events after their position and are due,
    /// across tenants; answers them, how long until the next one that waits for a retry is due,
    /// and the position of the active endpoint furthest behind.
    func claimWebhooks(limit: Int, lease: Duration) async throws -> WebhookClaim
    /// The tenant's events after a position, oldest first (whatever the retention left).
    func webhookEvents(tenant: TenantID, after sequence: Int64, limit: Int) async throws -> [ChangeEvent]
    /// Records an attempt and decides what the endpoint does next (see `WebhookStep`); `skipped` is
    /// the position through which events the endpoint does not want were passed over. A job whose
    /// lease is no longer its own (it ran out, or the endpoint changed) only records the attempt
    /// and stops.
    func recordAttempt(_ job: WebhookJob, _ delivery: WebhookDelivery, skipped: Int64, schedule: RetrySchedule) async throws -> WebhookStep
    /// Ends the job's lease (if still its own), keeping the position (`through`: events the endpoint
    /// does not want, passed over).
    func releaseWebhook(_ job: WebhookJob, through: Int64) async throws
}

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

/// What an endpoint does after an attempt.
public enum WebhookStep: String, Sendable, Hashable {
    /// Delivered, or given up after the last attempt: on to the next event.
    case next
    /// Failed: tried again when the schedule says (the lease is given back).
    case retry
    /// Disabled (410, too many failures), or the lease is no longer the job's: it ends.
    case stop
}

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

/// What one round of the dispatcher got.
public struct WebhookClaim: Sendable {
    public var jobs: [WebhookJob]
    /// How long until the next endpoint waiting for a retry is due (`nil`: none waits).
    public var nextDue: Duration?
    /// The position of the active endpoint furthest behind (`nil`: none is active).
    public var behind: Int64?

    public init(jobs: [WebhookJob], nextDue: Duration?, behind: Int64?) {
        self.jobs = jobs
        self.nextDue = nextDue
        self.behind = behind
    }
}
