import Domain
import Foundation
import Infra
import Logging
import Testing

@testable import App

/// A tenant's lease keeps its tasks in one process at a time: a process that lost it claims
/// nothing back and starts nothing more, a process sharing another's consumer name does not share
/// its lease, and a turn hands its runner at most a batch per queue.
@Suite struct TaskLeaseTests {
    static func message(_ task: TaskMessage) -> [(String, String)] { [("message", String(decoding: task.json.encoded, as: UTF8.self))] }

    /// Holder A's lease expired and B took the tenant and claimed its entry: A's renewal says the
    /// lease is lost and leaves the entry B's, so the two do not both run it.
    @Test func aLostLeaseClaimsNothingBack() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let key = TaskQueue.tasks.key(tenant)
        try await q.redis.ensureGroup(key, group: TaskQueue.group)
        try await q.redis.xadd(key, Self.message(TaskMessage(tenantID: tenant, type: .sync)))
        let a = RedisTaskQueue(redis: q.redis, consumer: "replica-a", nonce: "1")
        let b = RedisTaskQueue(redis: q.redis, consumer: "replica-b", nonce: "2")
        let entries = try #require(try await a.takeTurns([(tenant, [.tasks])], batch: 10, for: .seconds(30))[tenant]?.get()).entries
        #expect(entries.count == 1)
        // A's lease runs out (here: deleted), B takes the tenant and with it the pending entry.
        _ = try await q.redis.send("DEL", "ams:tasklease:\(tenant)")
        let taken = try #require(try await b.takeTurns([(tenant, [.tasks])], batch: 10, for: .seconds(30))[tenant]?.get())
        #expect(taken.entries.count == 1 && taken.claimed == 1)

        #expect(try await a.renewLease(tenant, keeping: entries, for: .seconds(30)) == false)
        #expect(try await Self.owners(q, key) == ["replica-b"], "the entry stays the new holder's")
        #expect(try await b.renewLease(tenant, keeping: entries, for: .seconds(30)) == true)
        #expect(try await Self.owners(q, key) == ["replica-b"])
    }

    /// Two processes with one consumer name (a shared `AMS_REPLICA_NAME`, an old process still
    /// draining): only the one that took the lease holds it, though it may take it again itself.
    @Test func aSharedConsumerNameDoesNotShareTheLease() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        try await q.redis.ensureGroup(TaskQueue.tasks.key(tenant), group: TaskQueue.group)
        let first = RedisTaskQueue(redis: q.redis, consumer: "host:8080", nonce: "1")
        let second = RedisTaskQueue(redis: q.redis, consumer: "host:8080", nonce: "2")
        #expect(try await Self.takesLease(first, tenant))
        #expect(try await Self.takesLease(second, tenant) == false)
        #expect(try await second.renewLease(tenant, keeping: [], for: .seconds(30)) == false)
        try await second.releaseLease(tenant)
        #expect(try await Self.takesLease(first, tenant), "its own lease, taken again")
        #expect(try await Self.takesLease(second, tenant) == false, "the other's release let nothing go")
    }

    /// Three entries left pending and three new ones, a batch of 4: the turn hands the three
    /// pending entries, then one new one; with a batch of 2, two pending ones and nothing new.
    @Test func aTurnHandsAtMostTheBatchPerQueue() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let key = TaskQueue.tasks.key(tenant)
        try await q.redis.ensureGroup(key, group: TaskQueue.group)
        var ids: [String] = []
        for _ in 0..<6 { ids.append(try await q.redis.xadd(key, Self.message(TaskMessage(tenantID: tenant, type: .sync)))) }
        _ = try await q.redis.readGroup(TaskQueue.group, consumer: "dead-replica", keys: [key], count: 3)
        let queue = RedisTaskQueue(redis: q.redis, consumer: "replica", nonce: "1")
        let small = try #require(try await queue.takeTurns([(tenant, [.tasks])], batch: 2, for: .seconds(30))[tenant]?.get())
        #expect(small.entries.map(\.entry.id) == Array(ids[0..<2]) && small.claimed == 2)
        let turn = try #require(try await queue.takeTurns([(tenant, [.tasks])], batch: 4, for: .seconds(30))[tenant]?.get())
        #expect(turn.entries.map(\.entry.id) == Array(ids[0..<4]), "pending first, then new ones up to the batch")
        #expect(turn.claimed == 3)
    }

    /// One tenant's queue key is a string: its turn fails, the other tenant's in the same call does not.
    @Test func aBadQueueKeyFailsOnlyItsTenantsTurn() async throws {
        let q = try await TestQueues()
        let (bad, good) = (TestSupport.tenant(), TestSupport.tenant())
        _ = try await q.redis.send("SET", TaskQueue.tasks.key(bad), "in the way")
        try await q.redis.ensureGroup(TaskQueue.tasks.key(good), group: TaskQueue.group)
        try await q.redis.xadd(TaskQueue.tasks.key(good), Self.message(TaskMessage(tenantID: good, type: .sync)))
        let queue = RedisTaskQueue(redis: q.redis, consumer: "replica", nonce: "1")
        let turns = try await queue.takeTurns([(bad, [.tasks]), (good, [.tasks])], batch: 4, for: .seconds(30))
        #expect(throws: RedisError.self) { try turns[bad]?.get() }
        #expect(try turns[good]?.get().entries.count == 1)
    }

    /// A runner whose lease another replica took while its first task waited to be tried again
    /// starts nothing more: both tasks are left unfinished and their entries pending, for the new holder.
    @Test func aRunnerThatLostItsLeaseStartsNothingMore() async throws {
        let q = try await TestQueues()
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            let deps = TenantDependencies(
                stores,
                agents: FlakyStore(stores.agents, failures: 2),
                validators: .builtin,
                policy: try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml"),
                catalog: ToolCatalogCache(store: stores.tools),
                cacheCapacity: 10
            )
            let supervisor = TenantSupervisor(deps: deps, maxTenants: 10, idleTimeout: .seconds(60), logger: Logger(label: "test"))
            // Renewed every 100 ms; the first task fails twice, waiting 400 ms, then 800 ms.
            let settings = TaskSettings(consumer: "replica", visibilityTimeout: .milliseconds(300), retryBackOff: .milliseconds(400))
            let runner = TaskRunner(
                redis: q.redis,
                tasks: stores.tasks,
                supervisor: supervisor,
                settings: settings,
                metrics: AppMetrics(),
                logger: Logger(label: "test")
            )
            let tenant = TestSupport.tenant()
            let key = TaskQueue.tasks.key(tenant)
            let tasks = [TaskMessage(tenantID: tenant, type: .sync), TaskMessage(tenantID: tenant, type: .sync)]
            try await q.redis.ensureGroup(key, group: TaskQueue.group)
            for task in tasks { try await q.redis.xadd(key, Self.message(task)) }
            let mine = RedisTaskQueue(redis: q.redis, consumer: settings.consumer, nonce: settings.nonce)
            let entries = try #require(try await mine.takeTurns([(tenant, [.tasks])], batch: 10, for: .seconds(30))[tenant]?.get()).entries
            _ = try await q.redis.send("DEL", "ams:tasklease:\(tenant)")
            let other = RedisTaskQueue(redis: q.redis, consumer: "other-replica", nonce: "2")
            #expect(try await Self.takesLease(other, tenant))

            let outcome = await runner.settle(entries, tenant: tenant)
            #expect(!outcome.settled && outcome.owed.isEmpty, "nothing run, nothing to acknowledge")
            for task in tasks {
                let record = try #require(try await stores.tasks.task(task.taskID, tenant: tenant))
                #expect(record.status != .completed, "\(record)")
            }
            let pending = try await q.redis.send("XPENDING", key, TaskQueue.group)
            #expect(pending.array?.first == .integer(2), "both entries left to the new holder")
            #expect(try await Self.owners(q, key) == ["other-replica", "other-replica"], "none claimed back")
        }
    }

    /// Whether the process's turn of the tenant's queues got the tenant's lease (`false`: another
    /// process holds it); any other failure of the turn throws.
    static func takesLease(_ queue: RedisTaskQueue, _ tenant: TenantID, _ queues: [TaskQueue] = [.tasks]) async throws -> Bool {
        let turn = try #require(try await queue.takeTurns([(tenant, queues)], batch: 10, for: .seconds(30))[tenant])
        if case .failure(is RedisTaskQueue.LeaseHeld) = turn { return false }
        _ = try turn.get()
        return true
    }

    /// The consumers that hold the queue's pending entries, one per entry.
    static func owners(_ q: TestQueues, _ key: String) async throws -> [String] {
        let reply = try await q.redis.send("XPENDING", key, TaskQueue.group, "-", "+", "10")
        return (reply.array ?? []).compactMap { $0.array?[1].string }
    }
}
