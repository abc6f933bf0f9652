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
