/// A failure with a catalog code and a message safe to show a client; `details` carries structured
/// context (the validation issues, the field at fault) and never internals.
public struct ServiceError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public var details: [String: JSONValue]
    /// What went wrong underneath, for the log line of a 5xx; never shown to the client.
    public var cause: String?

    /// Two errors are the same answer to the client whatever their causes.
    public static func == (a: ServiceError, b: ServiceError) -> Bool {
        a.code == b.code && a.message == b.message && a.details == b.details
    }

    public func caused(by cause: String) -> ServiceError {
        var error = self
        error.cause = cause
        return error
    }

    public init(_ code: ErrorCode, _ message: String, details: [String: JSONValue] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public static func agentNotFound() -> ServiceError { .init(.agentNotFound, "Agent not found") }

    public static func versionNotFound(_ version: Int) -> ServiceError {
        .init(.versionNotFound, "Version not found", details: ["version": .int(version)])
    }

    public static func templateNotFound(_ id: String, version: Int? = nil) -> ServiceError {
        var details: [String: JSONValue] = ["template_id": .string(id)]
        if let version { details["template_version"] = .int(version) }
        return .init(.templateNotFound, version == nil ? "Template not found" : "Template version not found", details: details)
    }

    public static func aliasNotFound(_ alias: String) -> ServiceError {
        .init(.aliasNotFound, "Alias not found", details: ["alias": .string(alias)])
    }

    /// `If-Match` named another version than the agent's current one.
    public static func preconditionFailed(current: Int) -> ServiceError {
        .init(.preconditionFailed, "The agent is no longer at the version in If-Match", details: ["current_version": .int(current)])
    }

    public static func invalidTransition(from: AgentStatus, to: AgentStatus, reason: String? = nil) -> ServiceError {
        .init(
            .invalidTransition,
            reason ?? "Status \(from.rawValue) cannot change to \(to.rawValue)",
            details: [
                "current_status": .string(from.rawValue), "requested_status": .string(to.rawValue),
                "allowed": .array(from.allowedTargets.map { .string($0.rawValue) }),
            ]
        )
    }

    public static func malformed(_ message: String, field: String? = nil) -> ServiceError {
        .init(.malformedBody, message, details: field.map { ["field": .string($0)] } ?? [:])
    }

    public static func validationFailed(_ issues: [ValidationIssue]) -> ServiceError {
        .init(.validationFailed, "Validation failed", details: ["issues": .array(issues.map(\.json))])
    }

    public static func nameConflict(_ name: String) -> ServiceError {
        .init(.nameConflict, "An agent with this name already exists", details: ["name": .string(name)])
    }

    public static func quotaReached(tier: Tier, limit: Int) -> ServiceError {
        .init(
            .quotaReached,
            "The tier's agent quota is reached",
            details: ["tier": .string(tier.rawValue), "max_agents": .int(limit)]
        )
    }

    public static func webhookQuotaReached(tier: Tier, limit: Int) -> ServiceError {
        .init(.quotaReached, "The tier's webhook quota is reached", details: ["tier": .string(tier.rawValue), "max_webhooks": .int(limit)])
    }

    public static func webhookNotFound() -> ServiceError { .init(.webhookNotFound, "Webhook not found") }

    public static let queueUnavailable = ServiceError(.queueUnavailable, "Task queue unavailable, retry later")

    public static func taskNotFound() -> ServiceError { .init(.taskNotFound, "Task not found") }

    public static let databaseUnavailable = ServiceError(.databaseUnavailable, "Database unavailable, retry later")
}
