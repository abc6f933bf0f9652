/// Who asked for a write, recorded with it in the agent's history.
public struct Audit: Sendable, Hashable {
    /// The token's `sub`.
    public var actor: String
    public var roles: [String]
    public var requestID: String
    /// The W3C trace context of the request's span, when it is traced: a write batched with other
    /// requests' writes stores it with its own event, not the batch's.
    public var traceparent: String?

    public init(actor: String, roles: [String], requestID: String, traceparent: String? = nil) {
        self.actor = actor
        self.roles = roles
        self.requestID = requestID
        self.traceparent = traceparent
    }
}
