public import Foundation

/// A tenant's callback endpoint: which events it wants, and whether deliveries still go to it.
public struct Webhook: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable { case active, disabled }

    public var id: UUID
    public var tenantID: TenantID
    public var url: String
    /// Event names, or `["*"]` for every event.
    public var events: [String]
    public var description: String?
    public var status: Status
    /// Why it was disabled (`gone`: the receiver answered 410; `failures`: too many in a row; `user`).
    public var disabledReason: String?
    /// Failed attempts since the last success.
    public var consecutiveFailures: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID,
        tenantID: TenantID,
        url: String,
        events: [String],
        description: String?,
        status: Status,
        disabledReason: String?,
        consecutiveFailures: Int,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.url = url
        self.events = events
        self.description = description
        self.status = status
        self.disabledReason = disabledReason
        self.consecutiveFailures = consecutiveFailures
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The events an endpoint may subscribe to (`*` stands for all of them).
    public static let eventNames: Set<String> = [
        "agent_created", "agent_updated", "agent_deleted", "agent_restored", "agent_status_changed", "agent_validated",
        "validation_complete", "agent_template_created", "template_updated", "task_status_update", "task_completed", "task_failed",
        disabledEvent,
    ]

    /// Announced when an endpoint is disabled by its failures (not by a PATCH).
    public static let disabledEvent = "webhook_disabled"

    /// Consecutive failed attempts after which an endpoint is disabled.
    public static let failureLimit = 20

    /// The endpoint as the API shows it; the secret is never part of it.
    public var json: JSONValue {
        .object([
            "id": .string(id.uuidString.lowercased()),
            "url": .string(url),
            "events": .array(events.map(JSONValue.string)),
            "description": description.map(JSONValue.string) ?? .null,
            "status": .string(status.rawValue),
            "disabled_reason": disabledReason.map(JSONValue.string) ?? .null,
            "consecutive_failures": .int(consecutiveFailures),
            "created_at": .string(Agent.timestamp(createdAt)),
            "updated_at": .string(Agent.timestamp(updatedAt)),
        ])
    }
}

/// One attempt to deliver an event to an endpoint, as `GET /v1/webhooks/{id}/deliveries` lists it.
public struct WebhookDelivery: Sendable, Hashable {
    public var eventID: UUID
    public var event: String
    public var sequence: Int64
    public var attempt: Int
    public var attemptedAt: Date
    /// `nil`: no answer (refused address, timeout, connection error).
    public var statusCode: Int?
    public var latencyMs: Double
    public var error: String?

    public init(eventID: UUID, event: String, sequence: Int64, attempt: Int, attemptedAt: Date, statusCode: Int?, latencyMs: Double, error: String?) {
        self.eventID = eventID
        self.event = event
        self.sequence = sequence
        self.attempt = attempt
        self.attemptedAt = attemptedAt
        self.statusCode = statusCode
        self.latencyMs = latencyMs
        self.error = error
    }

    public var succeeded: Bool { statusCode.map { (200..<300).contains($0) } ?? false }

    public var json: JSONValue {
        .object([
            "event_id": .string(eventID.uuidString.lowercased()),
            "event": .string(event),
            "sequence": .int(Int(sequence)),
            "attempt": .int(attempt),
            "attempted_at": .string(Agent.timestamp(attemptedAt)),
            "status_code": statusCode.map(JSONValue.int) ?? .null,
            "latency_ms": .double((latencyMs * 10).rounded() / 10),
            "succeeded": .bool(succeeded),
            "error": error.map(JSONValue.string) ?? .null,
        ])
    }
}
