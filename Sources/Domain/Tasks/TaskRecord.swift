public import Foundation

/// A task as Postgres keeps it: the message, and how far it got.
public struct TaskRecord: Sendable, Hashable {
    public var message: TaskMessage
    public var status: TaskStatus
    public var attempts: Int
    /// 0–100; bulk work moves it as it goes.
    public var progress: Int
    public var result: JSONValue?
    public var error: JSONValue?
    /// Where resumable work stopped (bulk tasks: the last agent position done).
    public var checkpoint: Int64?
    public var updatedAt: Date

    public init(
        message: TaskMessage,
        status: TaskStatus,
        attempts: Int = 0,
        progress: Int = 0,
        result: JSONValue? = nil,
        error: JSONValue? = nil,
        checkpoint: Int64? = nil,
        updatedAt: Date = .now
    ) {
        self.message = message
        self.status = status
        self.attempts = attempts
        self.progress = progress
        self.result = result
        self.error = error
        self.checkpoint = checkpoint
        self.updatedAt = updatedAt
    }

    /// `GET /v1/tasks/{id}`: the task message with its current state.
    public var json: JSONValue {
        guard case .object(var o) = message.json else { return .null }
        o["status"] = .string(status.rawValue)
        o["attempts"] = .int(attempts)
        o["progress"] = .int(progress)
        o["result"] = result ?? .null
        o["error"] = error ?? .null
        o["updated_at"] = .string(Agent.timestamp(updatedAt))
        return .object(o)
    }
}

/// How a run of a task ended.
public enum TaskOutcome: Sendable, Hashable {
    case completed(JSONValue)
    /// `type` says what kind of failure: `validation`, `not_found`, `conflict`, `malformed`, `unavailable`, `internal`.
    case failed(message: String, type: String, details: JSONValue?)

    public var errorJSON: JSONValue? {
        guard case .failed(let message, let type, let details) = self else { return nil }
        var o: [String: JSONValue] = ["message": .string(message), "error_type": .string(type)]
        if let details { o["details"] = details }
        return .object(o)
    }
}
