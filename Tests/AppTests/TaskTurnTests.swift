import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import Testing

@testable import App

/// A tenant's turn costs as few round trips as its order allows: the lease, the claim of pending
/// entries and the read of new ones go in one script, the last batch's acknowledgement rides with
/// the next read, and a batch decodes each agent it validates once per revision.
@Suite struct TaskTurnTests {
    static func message(_ task: TaskMessage) -> [String] { ["message", String(decoding: task.json.encoded, as: UTF8.self)] }

    /// Read events the Redis server has processed: one per round trip of a pipelining client.
    static func reads(_ redis: RedisClient) async throws -> Int {
        let info = try await redis.send("INFO", "stats").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_reads_processed:") }
        return try #require(line.flatMap { Int($0.split(separator: ":")[1]) })
    }

    /// Two pending entries and three new ones, a batch of 4, with the previous batch's entry to
    /// acknowledge: one round trip takes the lease, acknowledges, claims both pending entries and
    /// reads two new ones; another process holding the lease gets nothing.
    @Test func aTurnIsOneRoundTrip() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let key = TaskQueue.tasks.key(tenant)
        try await q.redis.ensureGroup(key, group: TaskQueue.group)
        var ids: [String] = []
        for _ in 0..<6 { ids.append(try await q.redis.xadd(key, [("message", "{}")])) }
        let queue = RedisTaskQueue(redis: q.redis, consumer: "replica", nonce: "1")
        let first = try await q.redis.readGroup(TaskQueue.group, consumer: "replica", keys: [key], count: 1)[key] ?? []
        _ = try await q.redis.readGroup(TaskQueue.group, consumer: "dead-replica", keys: [key], count: 2)
        let done = first.map { QueuedEntry(queue: .tasks, tenant: tenant, entry: $0) }

        let before = try await Self.reads(q.redis)
        let turns = try await queue.takeTurns([(tenant, [.tasks])], batch: 4, for: .seconds(30), acknowledging: done)
        let after = try await Self.reads(q.redis)
        #expect(after - before == 2, "the turn and the INFO after it")
        let turn = try #require(try turns[tenant]?.get())
        #expect(turn.entries.map(\.entry.id) == Array(ids[1..<5]) && turn.claimed == 2, "pending first, then new ones")
        #expect(try await q.redis.send("XLEN", key).integer == 5, "the acknowledged entry is gone")
        #expect(try await TaskLeaseTests.owners(q, key) == ["replica", "replica", "replica", "replica"])

        let other = RedisTaskQueue(redis: q.redis, consumer: "other", nonce: "2")
        let refused = try await other.takeTurns([(tenant, [.tasks])], batch: 4, for: .seconds(30))
        #expect(throws: RedisTaskQueue.LeaseHeld.self) { try refused[tenant]?.get() }
        #expect(try await TaskLeaseTests.owners(q, key).count == 4, "nothing claimed without the lease")
    }

    /// Twenty full batches of one tenant, with no other tenant waiting: each batch is acknowledged
    /// with the next read in one round trip, so the drain costs little more than one round trip
    /// per batch (two when each turn ends by letting go of the lease, five when every turn took,
    /// claimed, read, acknowledged and let go apart).
    @Test func aBusyTenantsTurnsFollowInOneRoundTripEach() async throws {
        let q = try await TestQueues()
        var config = try q.configuration()
        let batch = 8
        config.taskBatch = batch
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agentID = try #require(try await admin.create("Busy")["id"]?.stringValue)
            let warm = try await q.run(client, tenant, .agentValidate, ["agent_id": .string(agentID)])
            #expect(warm["status"] == .string("completed"))

            let batches = 20
            let tasks = (0..<batches * batch).map { _ in
                TaskMessage(tenantID: tenant, type: .agentValidate, payload: ["agent_id": .string(agentID)])
            }
            let key = TaskQueue.validation.key(tenant)
            _ = try await q.redis.pipeline(tasks.map { ["XADD", key, "*"] + Self.message($0) })
            // Counted from here: the producer's reads are not the consumer's (a turn that started
            // before this line only makes the count smaller).
            let before = try await Self.reads(q.redis)
            let last = try await q.finished(admin, tasks[tasks.count - 1].taskID.uuidString, within: 60)
            #expect(last["status"] == .string("completed"))
            let drained = try await eventually(10) { try await q.redis.send("XLEN", key).integer == 0 }
            #expect(drained)
            let reads = try await Self.reads(q.redis) - before
            // The INFO calls are among them.
            #expect(reads < 2 * batches, "\(reads) round trips for \(batches) batches")
        }
    }

    /// Validations of one agent share its decoded form while its revision stays; a new revision is decoded anew.
    @Test func aBatchDecodesEachAgentOncePerRevision() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            let deps = TenantDependencies(
                stores,
                agents: stores.agents,
                validators: .builtin,
                policy: try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml"),
                catalog: ToolCatalogCache(store: stores.tools),
                cacheCapacity: 10
            )
            let supervisor = TenantSupervisor(deps: deps, maxTenants: 10, idleTimeout: .seconds(60), logger: Logger(label: "test"))
            // Agents are cached while change notices are heard.
            await supervisor.setListening(true)
            let actor = supervisor.tenant(TestSupport.tenant())
            let config = try AgentConfig(json: .object(["name": .string("Decoded"), "llm_config": .object(["model": .string("gpt-4o-mini")])]))
            let id = try await actor.create(config, audit: .test).id
            let decoded = DecodedAgents()
            for _ in 0..<3 { _ = try await actor.revalidate(id, audit: .test, decoded: decoded) }
            #expect(decoded.decoded == 1)
            _ = try await actor.patch(id, with: .object(["description": .string("changed")]), ifMatch: nil, audit: .test)
            let outcome = try await actor.revalidate(id, audit: .test, decoded: decoded)
            #expect(decoded.decoded == 2 && outcome.version == 2, "\(outcome)")
        }
    }
}
