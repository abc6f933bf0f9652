/// What an endpoint does after an attempt.
public enum WebhookStep: String, Sendable, Hashable {
    /// Delivered, or given up after the last attempt: on to the next event.
    case next
    /// Failed: tried again when the schedule says (the lease is given back).
    case retry
    /// Disabled (410, too many failures), or the lease is no longer the job's: it ends.
    case stop
}
