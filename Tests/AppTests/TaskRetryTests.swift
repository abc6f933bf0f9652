import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import RedisTestSupport
import Synchronization
import Testing

@testable import App

/// A store whose agent listing fails while `failures` lasts, as an unreachable database would.
final class FlakyStore: ForwardingAgentStore {
    let base: PostgresAgentStore
    let failures: Atomic<Int>

    init(_ base: PostgresAgentStore, failures: Int) {
        self.base = base
        self.failures = Atomic(failures)
    }

    func agents(tenant: TenantID, query: AgentQuery) async throws -> AgentPage {
        if failures.subtract(1, ordering: .relaxed).oldValue > 0 { throw ServiceError.databaseUnavailable }
        return try await base.agents(tenant: tenant, query: query)
    }
}

@Suite struct TaskRetryTests {
    /// A passing failure is retried after a growing wait; past `max_attempts` the task fails and
    /// its entry is dead-lettered with the reason.
    @Test func passingFailuresAreRetriedWithBackOffThenDeadLettered() async throws {
        let q = try await TestQueues()
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            func runner(failing failures: Int) throws -> TaskRunner {
                let store = FlakyStore(stores.agents, failures: failures)
                let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
                let deps = TenantDependencies(
                    stores,
                    agents: store,
                    validators: .builtin,
                    policy: policy,
                    catalog: ToolCatalogCache(store: stores.tools),
                    cacheCapacity: 10
                )
                let supervisor = TenantSupervisor(deps: deps, maxTenants: 10, idleTimeout: .seconds(60), logger: Logger(label: "test"))
                let settings = TaskSettings(consumer: "test", retryBackOff: .milliseconds(100))
                return TaskRunner(
                    redis: q.redis,
                    tasks: stores.tasks,
                    supervisor: supervisor,
                    settings: settings,
                    metrics: AppMetrics(),
                    logger: Logger(label: "test")
                )
            }
            func entry(_ task: TaskMessage) async throws -> QueuedEntry {
                let key = TaskQueue.tasks.key(task.tenantID)
                try await q.redis.ensureGroup(key, group: TaskQueue.group)
                try await q.redis.xadd(key, [("message", String(decoding: task.json.encoded, as: UTF8.self))])
                let read = try await q.redis.readGroup(TaskQueue.group, consumer: "test", keys: [key], count: 1)
                return QueuedEntry(queue: .tasks, tenant: task.tenantID, entry: try #require(read[key]?.first))
            }

            /// The batch run as the consumer runs it: settled, then what it owes acknowledged.
            func settleAndAcknowledge(_ runner: TaskRunner, _ entries: [QueuedEntry], tenant: TenantID) async throws {
                let outcome = await runner.settle(entries, tenant: tenant)
                try await RedisTaskQueue(redis: q.redis, consumer: "test", nonce: "1").acknowledge(outcome.owed, tenant: tenant)
            }

            let tenant = TestSupport.tenant()
            let recovers = TaskMessage(tenantID: tenant, type: .sync)
            let started = ContinuousClock.now
            try await settleAndAcknowledge(runner(failing: 2), [try await entry(recovers)], tenant: tenant)
            let record = try #require(try await stores.tasks.task(recovers.taskID, tenant: tenant))
            #expect(record.status == .completed && record.attempts == 3, "\(record)")
            #expect(ContinuousClock.now - started >= .milliseconds(300), "waited 100 ms, then 200 ms")

            let hopeless = TaskMessage(tenantID: tenant, type: .sync, maxAttempts: 2)
            try await settleAndAcknowledge(runner(failing: 100), [try await entry(hopeless)], tenant: tenant)
            let failed = try #require(try await stores.tasks.task(hopeless.taskID, tenant: tenant))
            #expect(failed.status == .failed && failed.attempts == 2 && failed.error?["error_type"] == .string("unavailable"), "\(failed)")
            let dead = try await q.redis.send("XRANGE", TaskQueue.deadLetterKey(tenant), "-", "+").array ?? []
            #expect(dead.count == 1)
            let fields = dead.first?.array?[1].array ?? []
            let reason = zip(fields, fields.dropFirst()).first { $0.0.string == "reason" }?.1.string
            #expect(reason?.hasPrefix("unavailable: Database unavailable") == true, "\(reason ?? "-")")
            let pending = try await q.redis.send("XPENDING", TaskQueue.tasks.key(tenant), TaskQueue.group)
            #expect(pending.array?.first == .integer(0), "both entries were acknowledged")
        }
    }

    /// A bulk update over a thousand agents: each gets a version and progress reaches 100.
    @Test func aBulkUpdateOverAThousandAgentsCompletes() async throws {
        let q = try await TestQueues()
        let tiers = FileManager.default.temporaryDirectory.appendingPathComponent("tiers-\(UUID()).yaml")
        try String(contentsOfFile: TestSupport.root + "/config/tiers.yaml", encoding: .utf8)
            .replacingOccurrences(of: "max_agents: 100\n", with: "max_agents: 5000\n").write(to: tiers, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tiers) }
        var config = try q.configuration()
        config.tiersFile = tiers.path
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let admin = try await Caller.make(client, tenant: tenant)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for i in stride(from: worker, to: 1000, by: 4) {
                            _ = try await admin.create("bulk-\(i)", #""tags":["bulk"]"#)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let accepted = try await admin.send(
                .post,
                "/v1/agents/bulk-update",
                json: #"{"filter":{"tag":"bulk"},"patch":{"description":"patched","tools":["search"]}}"#
            )
            #expect(accepted.status == .accepted)
            let id = try #require(try accepted.json()["task_id"]?.stringValue)
            let done = try await q.finished(admin, id, within: 120)
            #expect(done["status"] == .string("completed"), "\(done["error"] ?? .null)")
            #expect(done["progress"] == .int(100))
            #expect(done["result"]?["matched"] == .int(1000))
            #expect(try done["result"]?["updated"]?.items().count == 1000)
            let sample = try await admin.send(.get, "/v1/agents?tag=bulk&limit=1").json()["items"]?.items().first
            #expect(sample?["description"] == .string("patched") && sample?["version"] == .int(2))
        }
    }

    /// Agents the patch cannot be applied to are skipped and listed with why; the others change.
    @Test func aBulkUpdateSkipsAgentsThePatchCannotApplyTo() async throws {
        let q = try await TestQueues()
        try await q.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let first = try await admin.create("First")
            let second = try await admin.create("Second")
            let accepted = try await admin.send(.post, "/v1/agents/bulk-update", json: #"{"filter":{},"patch":{"name":"Same"}}"#)
            let done = try await q.finished(admin, try #require(try accepted.json()["task_id"]?.stringValue))
            #expect(done["status"] == .string("completed"), "\(done)")
            let updated = try done["result"]?["updated"]?.items() ?? []
            let skipped = try done["result"]?["skipped"]?.items() ?? []
            #expect(updated.count == 1 && skipped.count == 1, "\(done)")
            #expect(skipped.first?["code"] == .string("AMS-102"))
            #expect(Set(updated + skipped.compactMap { $0["agent_id"] }) == [.string(first.id), .string(second.id)])
        }
    }
}

@Suite struct TaskRedisOutageTests {
    /// Redis killed (SIGKILL) with tasks queued, then started again: the consumer reconnects by
    /// itself and every task completes.
    @Test func tasksQueuedBeforeARedisRestartAllComplete() async throws {
        let server = try PrivateRedis(appendOnly: true)
        try await server.start()
        defer { server.stop() }
        var config = try TestSupport.configuration()
        config.redisURL = "redis://127.0.0.1:\(server.port)"
        config.redisTimeout = .milliseconds(500)
        config.taskConsumer = true
        let producer = RedisClient(configuration: .init(url: try RedisURL(config.redisURL)), logger: Logger(label: "test"))
        defer { producer.close() }
        let tenant = TestSupport.tenant()
        @Sendable func produce(_ count: Int) async throws {
            for _ in 0..<count {
                let task = TaskMessage(tenantID: tenant, type: .sync)
                try await producer.xadd(TaskQueue.tasks.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            }
        }
        // Queued while no consumer runs, then Redis dies and comes back before one starts.
        try await produce(5)
        server.stop()
        try await server.start()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            // And once more under a running consumer, which must find its way back by itself.
            server.stop()
            try await Task.sleep(for: .milliseconds(300))
            try await server.start()
            try await produce(5)
            #expect(
                try await eventually(30) {
                    try await admin.send(.get, "/v1/tasks?status=completed&limit=200").json()["items"]?.items().count == 10
                },
                "all ten tasks completed after the restart"
            )
        }
    }
}
