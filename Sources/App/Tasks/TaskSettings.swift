/// How this replica consumes the task queues (`AMS_TASK_*`).
struct TaskSettings: Sendable {
    /// This replica's consumer name in the group (`AMS_REPLICA_NAME`).
    var consumer: String
    /// How long an entry may stay unacknowledged with a consumer before another claims it.
    var visibilityTimeout = Duration.seconds(30)
    /// Entries read per queue per read: a tenant's turn.
    var batch = 32
    /// Tenants worked on at once; with `batch`, bounds what is read ahead.
    var concurrency = 4
    /// The first retry's wait; each further one doubles it.
    var retryBackOff = Duration.milliseconds(200)
    /// The safety-net `SCAN` for queues whose notification was missed.
    var sweepInterval = Duration.seconds(60)
    /// Entries kept in a dead-letter stream (`MAXLEN ~`).
    var deadLetterLength = 100_000
}
