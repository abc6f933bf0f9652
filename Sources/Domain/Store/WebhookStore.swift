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
    /// Gives the endpoint `secret`; the one it replaces signs beside it until `overlap` from now (by
    /// the database's clock, answered), and an older one that still did stops. The endpoint is taken
    /// from the worker delivering to it, so every later delivery carries the new signature. `nil`:
    /// no such endpoint.
    func rotateSecret(_ id: UUID, tenant: TenantID, to secret: String, overlap: Duration) async throws -> WebhookRotation?
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
