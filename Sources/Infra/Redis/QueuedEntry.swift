public import Domain

/// An entry read from one of a tenant's task queues.
public struct QueuedEntry: Sendable {
    public var queue: TaskQueue
    public var tenant: TenantID
    public var entry: StreamEntry

    public init(queue: TaskQueue, tenant: TenantID, entry: StreamEntry) {
        self.queue = queue
        self.tenant = tenant
        self.entry = entry
    }
}
