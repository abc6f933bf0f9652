/// Who asked for a write, recorded with it in the agent's history.
public struct Audit: Sendable, Hashable {
    /// The token's `sub`.
    public var actor: String
    public var roles: [String]
    public var requestID: String

    public init(actor: String, roles: [String], requestID: String) {
        self.actor = actor
        self.roles = roles
        self.requestID = requestID
    }
}
