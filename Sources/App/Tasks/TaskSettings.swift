/// How this replica consumes the task queues (`AMS_TASK_*`).
struct TaskSettings: Sendable {
    /// This replica's consumer name in the group (`AMS_REPLICA_NAME`, by default the host name and
    /// HTTP port): the same after a restart, so the replica's own pending entries stay its own.
    var consumer: String
    /// Tells this process's tenant leases from those of another process with the same consumer name
    /// (a shared `AMS_REPLICA_NAME`, an old process draining while its restart binds the same port):
    /// new with each settings value, which a process makes once, at start.
    var nonce = String(UInt64.random(in: 0 ... .max), radix: 16)
    /// The tenant lease's term (renewed while a batch runs); also how long a consumer without pending
    /// entries, or a tenant without work, stays before it is deleted or forgotten.
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
