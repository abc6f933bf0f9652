/// What a soft delete found: a delete refused by `If-Match` says which version is current.
public enum DeleteOutcome: Sendable, Hashable {
    case deleted(version: Int)
    case missing
    /// `If-Match` named another version; the agent is untouched.
    case stale(current: Int)
}
