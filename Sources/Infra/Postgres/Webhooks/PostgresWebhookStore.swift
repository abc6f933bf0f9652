import Crypto
public import Domain
public import Foundation
import Logging
import PostgresNIO

/// `WebhookStore` on PostgreSQL: endpoints, their leases and their attempts.
public struct PostgresWebhookStore: WebhookStore, PostgresStore {
    static let webhookColumns = "seq, tenant_id, id, url, events, description, status, disabled_reason, consecutive_failures, created_at, updated_at"

    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func createWebhook(_ webhook: Webhook, secret: String, limit: Int, tier: Tier) async throws -> Webhook {
        try await inTenant(webhook.tenantID) { conn in
            // Two registrations at once cannot both take the last place.
            try await conn.query("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || \(webhook.tenantID), 0))", logger: logger)
            for try await count in try await conn.query(
                "SELECT count(*)::int FROM webhooks WHERE tenant_id = \(webhook.tenantID)",
                logger: logger
            ).decode(Int.self) where count >= limit {
                throw ServiceError.webhookQuotaReached(tier: tier, limit: limit)
            }
            let rows = try await conn.query(
                """
                INSERT INTO webhooks (tenant_id, id, url, events, description, secret, delivered)
                SELECT \(webhook.tenantID), \(webhook.id), \(webhook.url), \(webhook.events), \(webhook.description), \(secret), last
                FROM outbox_counter
                RETURNING \(unescaped: Self.webhookColumns)
                """,
                logger: logger
            )
            for try await row in rows { return try Self.webhook(row.makeRandomAccess()) }
            throw ServiceError(.internalError, "The webhook was not stored")
        }
    }

    public func webhook(_ id: UUID, tenant: TenantID) async throws -> Webhook? {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                "SELECT \(unescaped: Self.webhookColumns) FROM webhooks WHERE tenant_id = \(tenant) AND id = \(id)",
                logger: logger
            )
            for try await row in rows { return try Self.webhook(row.makeRandomAccess()) }
            return nil
        }
    }

    public func webhooks(tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<Webhook> {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT \(unescaped: Self.webhookColumns) FROM webhooks
                WHERE tenant_id = \(tenant) AND (\(before)::bigint IS NULL OR seq < \(before))
                ORDER BY seq DESC LIMIT \(limit + 1)
                """,
                logger: logger
            )
            var items: [Webhook] = []
            var positions: [Int64] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                items.append(try Self.webhook(cells))
                positions.append(try cells[0].decode(Int64.self))
            }
            guard items.count > limit else { return Page(items: items, next: nil) }
            return Page(items: Array(items.prefix(limit)), next: positions[limit - 1])
        }
    }

    public func updateWebhook(_ id: UUID, tenant: TenantID, _ change: WebhookChange) async throws -> Webhook? {
        let status = change.status?.rawValue
        let setsDescription = change.description != nil
        let description = change.description ?? nil
        return try await inTenant(tenant) { conn in
            // The right-hand sides read the row as it was. An endpoint made active again, or given
            // another url, starts clean and is due at once; one whose url, events or status really
            // changed is taken from the worker delivering to it (whose writes then count for
            // nothing), and claimed again only once that worker's attempt in flight is over.
            let rows = try await conn.query(
                """
                WITH old AS (SELECT * FROM webhooks WHERE tenant_id = \(tenant) AND id = \(id) FOR UPDATE),
                new AS (
                    SELECT old.tenant_id, old.id, coalesce(\(change.url), old.url) AS url, coalesce(\(change.events)::text[], old.events) AS events,
                        coalesce(\(status), old.status) AS status, old.url AS was_url, old.events AS was_events, old.status AS was_status
                    FROM old
                ), fresh AS (
                    SELECT new.*, (new.status = 'active' AND new.was_status = 'disabled') OR new.url IS DISTINCT FROM new.was_url AS restart,
                        new.url IS DISTINCT FROM new.was_url OR new.events IS DISTINCT FROM new.was_events
                            OR new.status IS DISTINCT FROM new.was_status AS changed
                    FROM new
                )
                UPDATE webhooks w SET url = f.url, events = f.events, status = f.status,
                    description = CASE WHEN \(setsDescription) THEN \(description) ELSE w.description END,
                    disabled_reason = CASE WHEN f.status = 'active' THEN NULL
                        WHEN f.status = 'disabled' AND f.was_status = 'active' THEN 'user' ELSE w.disabled_reason END,
                    consecutive_failures = CASE WHEN f.restart THEN 0 ELSE w.consecutive_failures END,
                    attempts = CASE WHEN f.restart THEN 0 ELSE w.attempts END,
                    next_attempt_at = CASE WHEN f.restart THEN now() ELSE w.next_attempt_at END,
                    lease_until = CASE WHEN f.changed AND w.lease_token IS NOT NULL THEN now() + interval '10 seconds'
                        ELSE w.lease_until END,
                    lease_token = CASE WHEN f.changed THEN NULL ELSE w.lease_token END,
                    updated_at = now()
                FROM fresh f
                WHERE w.tenant_id = f.tenant_id AND w.id = f.id
                RETURNING w.seq, w.tenant_id, w.id, w.url, w.events, w.description, w.status, w.disabled_reason, w.consecutive_failures,
                    w.created_at, w.updated_at
                """,
                logger: logger
            )
            for try await row in rows { return try Self.webhook(row.makeRandomAccess()) }
            return nil
        }
    }

    public func deleteWebhook(_ id: UUID, tenant: TenantID) async throws -> Bool {
        try await inTenant(tenant) { conn in
            for try await _ in try await conn.query(
                "DELETE FROM webhooks WHERE tenant_id = \(tenant) AND id = \(id) RETURNING id",
                logger: logger
            ).decode(UUID.self) { return true }
            return false
        }
    }

    public func rotateSecret(_ id: UUID, tenant: TenantID, to secret: String, overlap: Duration) async throws -> WebhookRotation? {
        try await inTenant(tenant) { conn in
            // The right-hand sides read the row as it was: the replaced secret becomes the previous
            // one, and a worker holding the endpoint loses it as for a PATCH that changes it.
            let rows = try await conn.query(
                """
                UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = now() + make_interval(secs => \(overlap.seconds)),
                    secret = \(secret),
                    lease_until = CASE WHEN lease_token IS NOT NULL THEN now() + interval '10 seconds' ELSE lease_until END,
                    lease_token = NULL, updated_at = now()
                WHERE tenant_id = \(tenant) AND id = \(id)
                RETURNING \(unescaped: Self.webhookColumns), previous_secret_expires_at
                """,
                logger: logger
            )
            for try await row in rows {
                let cells = row.makeRandomAccess()
                return WebhookRotation(webhook: try Self.webhook(cells), previousExpiresAt: try cells[11].decode(Date.self))
            }
            return nil
        }
    }

    public func deliveries(webhook: UUID, tenant: TenantID, limit: Int, before: Int64?) async throws -> Page<WebhookDelivery> {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT seq, event_id, event, sequence, attempt, attempted_at, status_code, latency_ms, error FROM webhook_deliveries
                WHERE tenant_id = \(tenant) AND webhook_id = \(webhook) AND (\(before)::bigint IS NULL OR seq < \(before))
                ORDER BY seq DESC LIMIT \(limit + 1)
                """,
                logger: logger
            )
            var items: [WebhookDelivery] = []
            var positions: [Int64] = []
            for try await row in rows {
                let c = row.makeRandomAccess()
                positions.append(try c[0].decode(Int64.self))
                items.append(
                    WebhookDelivery(
                        eventID: try c[1].decode(UUID.self),
                        event: try c[2].decode(String.self),
                        sequence: try c[3].decode(Int64.self),
                        attempt: try c[4].decode(Int.self),
                        attemptedAt: try c[5].decode(Date.self),
                        statusCode: try c[6].decode(Int?.self),
                        latencyMs: try c[7].decode(Double.self),
                        error: try c[8].decode(String?.self)
                    )
                )
            }
            guard items.count > limit else { return Page(items: items, next: nil) }
            return Page(items: Array(items.prefix(limit)), next: positions[limit - 1])
        }
    }

    public func claimWebhooks(limit: Int, lease: Duration) async throws -> WebhookClaim {
        try await single { conn in
            let rows = try await conn.query(
                """
                SELECT tenant_id, id, url, events, secret, previous_secret, lease_token, delivered, attempts, missed_through
                FROM ams_claim_webhooks(\(limit)::int, make_interval(secs => \(lease.seconds)))
                """,
                logger: logger
            )
            var jobs: [WebhookJob] = []
            for try await row in rows {
                let c = row.makeRandomAccess()
                let id = try c[1].decode(UUID.self)
                let delivered = try c[7].decode(Int64.self)
                let missed = try c[9].decode(Int64.self)
                jobs.append(
                    WebhookJob(
                        tenantID: try c[0].decode(String.self),
                        id: id,
                        url: try c[2].decode(String.self),
                        events: try c[3].decode([String].self),
                        secret: try c[4].decode(String.self),
                        previousSecret: try c[5].decode(String?.self),
                        lease: try c[6].decode(UUID.self),
                        delivered: delivered,
                        attempts: try c[8].decode(Int.self),
                        missed: missed > delivered
                            ? WebhookJob.Missed(through: missed, eventID: Self.missedEventID(webhook: id, through: missed)) : nil
                    )
                )
            }
            var claim = WebhookClaim(jobs: jobs, nextDue: nil, behind: nil)
            let due = try await conn.query("SELECT next_due, behind FROM ams_webhooks_next_due()", logger: logger)
            for try await (seconds, behind) in due.decode((Double?, Int64?).self) {
                claim.nextDue = seconds.map { .milliseconds(Int64(max(0, $0) * 1000)) }
                claim.behind = behind
            }
            return claim
        }
    }

    public func webhookEvents(tenant: TenantID, after sequence: Int64, limit: Int) async throws -> [ChangeEvent] {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT sequence, event_id, tenant_id, event, agent_id, task_id, global_task_id, data::text, created_at, traceparent FROM outbox
                WHERE tenant_id = \(tenant) AND sequence > \(sequence) ORDER BY sequence LIMIT \(limit)
                """,
                logger: logger
            )
            return try await Self.events(rows)
        }
    }

    public func recordAttempt(_ job: WebhookJob, _ delivery: WebhookDelivery, skipped: Int64, schedule: RetrySchedule) async throws -> WebhookStep {
        let retry = schedule.delay(after: delivery.attempt)?.milliseconds
        return try await single { conn in
            let rows = try await conn.query(
                """
                SELECT ams_webhook_attempt(\(job.tenantID), \(job.id), \(job.lease), \(delivery.eventID), \(delivery.event), \(delivery.sequence),
                    \(delivery.attempt)::int, \(delivery.attemptedAt), \(delivery.statusCode)::int, \(delivery.latencyMs), \(delivery.error),
                    \(skipped), \(retry)::bigint, \(Webhook.failureLimit)::int)
                """,
                logger: logger
            )
            for try await step in rows.decode(String.self) { return WebhookStep(rawValue: step) ?? .stop }
            return .stop
        }
    }

    public func releaseWebhook(_ job: WebhookJob, through: Int64) async throws {
        _ = try await inTenant(job.tenantID) { conn in
            try await conn.query(
                """
                UPDATE webhooks SET delivered = greatest(delivered, \(through)), lease_until = NULL, lease_token = NULL
                WHERE tenant_id = \(job.tenantID) AND id = \(job.id) AND lease_token = \(job.lease)
                """,
                logger: logger
            )
        }
    }

    /// A name-based id (RFC 9562 version 8, from SHA-256) for the news that the endpoint missed the
    /// events through `through`: every attempt at telling it carries the same one.
    static func missedEventID(webhook: UUID, through: Int64) -> UUID {
        var bytes = Array(SHA256.hash(data: Array("events_skipped/\(webhook.uuidString.lowercased())/\(through)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }

    /// Decoded column by column (see the package notes on wide tuple decodes).
    static func webhook(_ c: PostgresRandomAccessRow) throws -> Webhook {
        Webhook(
            id: try c[2].decode(UUID.self),
            tenantID: try c[1].decode(String.self),
            url: try c[3].decode(String.self),
            events: try c[4].decode([String].self),
            description: try c[5].decode(String?.self),
            status: Webhook.Status(rawValue: try c[6].decode(String.self)) ?? .disabled,
            disabledReason: try c[7].decode(String?.self),
            consecutiveFailures: try c[8].decode(Int.self),
            createdAt: try c[9].decode(Date.self),
            updatedAt: try c[10].decode(Date.self)
        )
    }
}
