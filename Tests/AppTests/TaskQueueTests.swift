import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import RedisTestSupport
import Synchronization
import Testing

@testable import App

/// The task queues end to end: real Redis streams, the app's consumer, tasks in Postgres. Each
/// test has a Redis database of its own, so no other test's consumer reads its entries.
@Suite struct TaskQueueTests {
    @Test func everyTaskTypeRunsEndToEnd() async throws {
        let q = try await TestQueues()
        try await q.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let created = try await q.run(
                client,
                tenant,
                .agentCreate,
                [
                    "agent_name": .string("Queued"), "agent_type": .string("rag"),
                    "config": .object(["llm_config": .object(["model": .string("gpt-4o-mini")])]),
                ]
            )
            #expect(created["status"] == .string("completed"), "\(created)")
            let agentID = try #require(created["result"]?["agent_id"]?.stringValue)
            #expect(created["task_id"]?.stringValue == agentID, "a created agent takes its task's id, so a rerun finds it")
            #expect(try await admin.send(.get, "/v1/agents/\(agentID)").json()["name"] == .string("Queued"))

            let updated = try await q.run(
                client,
                tenant,
                .agentUpdate,
                ["agent_id": .string(agentID), "config": .object(["description": .string("from a task")])]
            )
            #expect(updated["result"]?["version"] == .int(2))
            #expect(try await admin.send(.get, "/v1/agents/\(agentID)").json()["description"] == .string("from a task"))

            let validated = try await q.run(client, tenant, .agentValidate, ["agent_id": .string(agentID)])
            #expect(
                validated["status"] == .string("completed") && validated["result"]?["validation"]?["status"] != .string("invalid"),
                "\(validated)"
            )
            #expect(validated["result"]?["validation"] == (try await admin.send(.get, "/v1/agents/\(agentID)").json()["validation"]))
            let draft = try await q.run(
                client,
                tenant,
                .agentValidate,
                ["config": .object(["name": .string("X"), "llm_config": .object(["model": .string("gpt-4.1")])])]
            )
            #expect(draft["result"]?["validation"]?["status"] == .string("invalid"), "a free tier may not use gpt-4.1: \(draft)")

            let notified = try await q.run(client, tenant, .agentNotify, ["agent_id": .string(agentID)])
            #expect(notified["status"] == .string("completed"))
            let synced = try await q.run(client, tenant, .sync, [:])
            #expect(synced["result"]?["announced"] == .int(1))
            let revalidated = try await q.run(client, tenant, .revalidateTenant, [:])
            #expect(revalidated["result"]?["checked"] == .int(1))

            let template = try await q.run(
                client,
                tenant,
                .templateCreate,
                [
                    "template": .object([
                        "name": .string("Queued template"), "category": .string("support"), "type": .string("conversational"),
                        "config": .object(["llm_config": .object(["model": .string("gpt-4o-mini")])]),
                    ])
                ]
            )
            #expect(template["status"] == .string("completed"), "\(template)")
            let templateID = try #require(template["result"]?["template_id"]?.stringValue)
            #expect(try await admin.send(.get, "/v1/templates/\(templateID)").status == .ok)

            let bulk = try await q.run(
                client,
                tenant,
                .bulkUpdate,
                ["filter": .object(["ids": .array([.string(agentID)])]), "patch": .object(["description": .string("bulk")])]
            )
            #expect(bulk["result"]?["updated"] == .array([.string(agentID)]), "\(bulk)")
            #expect(bulk["progress"] == .int(100))

            let deleted = try await q.run(client, tenant, .agentDelete, ["agent_id": .string(agentID)])
            #expect(deleted["result"]?["deleted"] == .bool(true))
            #expect(try await admin.send(.get, "/v1/agents/\(agentID)").status == .notFound)
            let again = try await q.run(client, tenant, .agentDelete, ["agent_id": .string(agentID)])
            #expect(
                again["status"] == .string("completed") && again["result"]?["deleted"] == .bool(false),
                "deleting what is gone is done, not failed"
            )

            let failed = try await q.run(client, tenant, .agentUpdate, ["agent_id": .string(UUID().uuidString), "config": .object([:])])
            #expect(failed["status"] == .string("failed") && failed["error"]?["error_type"] == .string("not_found"), "\(failed)")
            let dead = try await q.redis.send("XRANGE", TaskQueue.deadLetterKey(tenant), "-", "+").array ?? []
            #expect(dead.count == 1, "a task that failed is dead-lettered with its reason")
        }
    }

    @Test func malformedAndCrossTenantEntriesAreDeadLetteredAndTheConsumerGoesOn() async throws {
        let q = try await TestQueues()
        try await q.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let key = TaskQueue.tasks.key(tenant)
            try await q.redis.xadd(key, [("message", "not json")])
            try await q.redis.xadd(key, [("other", "field")])
            try await q.redis.xadd(key, [("message", #"{"task_id":"\#(UUID())","tenant_id":"\#(tenant)","type":"explode"}"#)])
            try await q.redis.xadd(key, [("message", #"{"task_id":"\#(UUID())","tenant_id":"\#(tenant)","type":"agent_update","payload":{}}"#)])
            try await q.redis.xadd(
                key,
                [("message", String(decoding: TaskMessage(tenantID: "someone-else", type: .sync).json.encoded, as: UTF8.self))]
            )
            let fine = try await q.run(client, tenant, .sync, [:])
            #expect(fine["status"] == .string("completed"))
            var reasons: [String] = []
            #expect(
                try await eventually(10) {
                    let dead = try await q.redis.send("XRANGE", TaskQueue.deadLetterKey(tenant), "-", "+").array ?? []
                    reasons = dead.compactMap { entry in
                        guard let fields = entry.array?[1].array else { return nil }
                        return zip(fields, fields.dropFirst()).first { $0.0.string == "reason" }?.1.string
                    }
                    return reasons.count == 5
                },
                "\(reasons)"
            )
            #expect(reasons.contains("malformed: 'message' is not JSON"))
            #expect(reasons.contains("malformed: the entry has no field 'message'"))
            #expect(reasons.contains { $0.hasPrefix("malformed: type must be one of") })
            #expect(reasons.contains("malformed: payload.agent_id is required for agent_update (an agent id)"))
            #expect(reasons.contains("wrong tenant: the task names tenant 'someone-else', the queue belongs to '\(tenant)'"))
            // The last entry is acknowledged just after it is dead-lettered.
            #expect(
                try await eventually(10) {
                    try await q.redis.send("XPENDING", key, TaskQueue.group).array?.first == .integer(0)
                },
                "every entry was acknowledged"
            )
        }
    }

    @Test func theAPIQueuesTasksAndShowsThemToTheirTenantOnly() async throws {
        let q = try await TestQueues()
        try await q.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Checked")
            let accepted = try await admin.send(.post, "/v1/agents/\(agent.id)/validate")
            #expect(accepted.status == .accepted)
            let taskID = try #require(try accepted.json()["task_id"]?.stringValue)
            let done = try await q.finished(admin, taskID)
            #expect(done["status"] == .string("completed") && done["type"] == .string("agent_validate"))
            #expect(done["metadata"] == .object(["user_id": .string("user-1"), "source": .string("api")]))
            #expect(try await admin.send(.post, "/v1/agents/\(UUID())/validate").errorCode == "AMS-301")

            let other = try await Caller.make(client, tenant: TestSupport.tenant())
            #expect(try await other.send(.get, "/v1/tasks/\(taskID)").errorCode == "AMS-308")
            #expect(try await admin.send(.get, "/v1/tasks/not-a-uuid").errorCode == "AMS-308")
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            #expect(try await viewer.send(.post, "/v1/agents/\(agent.id)/validate").errorCode == "AMS-204")

            let bad = try await admin.send(.post, "/v1/agents/bulk-update", json: #"{"filter":{"colour":"red"},"patch":{}}"#)
            #expect(bad.status == .badRequest && bad.errorCode == "AMS-109")
            #expect(try await admin.send(.post, "/v1/agents/bulk-update", json: #"{"filter":{},"patch":{"status":"active"}}"#).errorCode == "AMS-109")
            #expect(try await admin.send(.post, "/v1/agents/bulk-update", json: #"{"filter":{},"patch":{"colour":"red"}}"#).errorCode == "AMS-109")
            // Also a field set to null, which the merge would drop without a word (schemathesis found it).
            #expect(
                try await admin.send(.post, "/v1/agents/bulk-update", json: #"{"filter":{},"patch":{"llm_config":{"":null}}}"#).errorCode == "AMS-109"
            )
            #expect(try await admin.send(.post, "/v1/agents/bulk-update", json: #"{"filter":{},"patch":{"colour":null}}"#).errorCode == "AMS-109")
            let outOfRange = try await admin.send(
                .post,
                "/v1/agents/bulk-update",
                json: #"{"filter":{},"patch":{"memory_config":{"window_size":-3}}}"#
            )
            #expect(
                outOfRange.status == .badRequest && outOfRange.errorCode == "AMS-100",
                "no agent could take it: \(String(buffer: outOfRange.body))"
            )
            let bulk = try await admin.send(
                .post,
                "/v1/agents/bulk-update",
                json: #"{"filter":{"type":"conversational"},"patch":{"description":"all"}}"#
            )
            #expect(bulk.status == .accepted)
            let bulkDone = try await q.finished(admin, try #require(try bulk.json()["task_id"]?.stringValue))
            #expect(bulkDone["result"]?["updated"] == .array([.string(agent.id)]), "\(bulkDone)")

            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            let message = TaskMessage(tenantID: tenant, type: .agentNotify, globalTaskID: "orch-1", payload: ["agent_id": .string(agent.id)])
            let queued = try await service.send(.post, "/internal/v1/tasks", json: String(decoding: message.json.encoded, as: UTF8.self))
            #expect(queued.status == .accepted)
            #expect(try await q.finished(admin, message.taskID.uuidString)["global_task_id"] == .string("orch-1"))
            let refused = try await service.send(
                .post,
                "/internal/v1/tasks",
                json: #"{"task_id":"\#(UUID())","tenant_id":"\#(tenant)","type":"agent_update"}"#
            )
            #expect(refused.status == .badRequest && refused.errorCode == "AMS-109")

            let list = try await admin.send(.get, "/v1/tasks?type=agent_validate&status=completed&limit=1").json()
            #expect(try list["items"]?.items().map { $0["task_id"] } == [.string(taskID)])
            #expect(try await admin.send(.get, "/v1/tasks?status=sleeping").errorCode == "AMS-109")
            let all = try await admin.send(.get, "/v1/tasks?limit=2").json()
            #expect(try all["items"]?.items().count == 2 && all["next_cursor"]?.stringValue != nil)
        }
    }

    @Test func withRedisDownEnqueueingAnswers503AndCRUDWorks() async throws {
        var config = try TestSupport.configuration()
        config.redisURL = "redis://127.0.0.1:1"
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Still here")
            let started = ContinuousClock.now
            let refused = try await admin.send(.post, "/v1/agents/\(agent.id)/validate")
            #expect(refused.status == .serviceUnavailable && refused.errorCode == "AMS-503")
            #expect(refused.headers[.retryAfter] == "1")
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(try await admin.send(.get, "/v1/tasks").json()["items"] == .array([]), "a task that could not be queued is not left behind")
        }
    }

    /// Within what was read: the most urgent queue first, then the highest priority; one agent's
    /// tasks keep their order whatever their priorities.
    @Test func urgencyAndPriorityOrderTasksButNotOneAgentsTasks() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        func create(_ name: String, _ priority: Int, on queue: TaskQueue) async throws {
            let task = TaskMessage(
                tenantID: tenant,
                type: .agentCreate,
                priority: priority,
                payload: ["agent_name": .string(name), "config": .object(["llm_config": .object(["model": .string("gpt-4o-mini")])])]
            )
            try await q.redis.xadd(queue.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        }
        // A tier with room for four agents, set by an app that does not consume.
        var quiet = try q.configuration()
        quiet.taskConsumer = false
        try await buildApplication(quiet, logger: makeLogger(quiet)).test(.router) { client in
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"professional"}"#).status == .ok)
        }
        // Queued before the consumer starts, so it reads them in one batch.
        try await create("low", 1, on: .tasks)
        try await create("high", 9, on: .tasks)
        try await create("templates", 0, on: .templates)
        try await create("urgent", 0, on: .validation)
        try await q.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            #expect(try await eventually(15) { try await admin.send(.get, "/v1/agents").json()["items"]?.items().count == 4 })
            let newestFirst = try await admin.send(.get, "/v1/agents").json()["items"]?.items().map { $0["name"]?.stringValue ?? "" }
            #expect(newestFirst == ["low", "high", "templates", "urgent"])
        }
        let a = UUID()
        let b = UUID()
        func update(_ agent: UUID, _ priority: Int) -> TaskMessage {
            TaskMessage(
                tenantID: tenant,
                type: .agentUpdate,
                priority: priority,
                payload: ["agent_id": .string(agent.uuidString), "config": .object([:])]
            )
        }
        let order = TaskRunner.ordered(
            [update(a, 1), update(b, 5), update(a, 9), update(b, 1)].map { task in
                (QueuedEntry(queue: .tasks, tenant: tenant, entry: StreamEntry(id: "0-1", fields: nil)), task)
            }
        ).map { ($0.task.agentID!, $0.task.priority) }
        #expect(order.map(\.0) == [a, b, a, b] && order.map(\.1) == [1, 5, 9, 1], "\(order)")
    }

    /// A replica that read entries and died: after the visibility timeout another claims them,
    /// and a task it had started runs to its end once.
    @Test func entriesOfADeadConsumerAreClaimedAndDoneOnce() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let key = TaskQueue.tasks.key(tenant)
        let task = TaskMessage(
            tenantID: tenant,
            type: .agentCreate,
            payload: ["agent_name": .string("Once"), "config": .object(["llm_config": .object(["model": .string("gpt-4o-mini")])])]
        )
        try await q.redis.ensureGroup(key, group: TaskQueue.group)
        try await q.redis.xadd(key, [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        let read = try await q.redis.readGroup(TaskQueue.group, consumer: "dead-replica", keys: [key], count: 10)
        #expect(read[key]?.count == 1)
        var config = try q.configuration()
        config.taskVisibilityTimeout = .seconds(1)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            // The dead replica had got as far as creating the agent, not as far as recording it.
            _ = try await admin.send(.post, "/v1/agents", json: #"{"name":"Other","llm_config":{"model":"gpt-4o-mini"}}"#)
            let done = try await q.finished(admin, task.taskID.uuidString, within: 20)
            #expect(done["status"] == .string("completed") && done["attempts"] == .int(1), "\(done)")
            let names = try await admin.send(.get, "/v1/agents").json()["items"]?.items().map { $0["name"]?.stringValue ?? "" }
            #expect(names?.sorted() == ["Once", "Other"])
            let pending = try await q.redis.send("XPENDING", key, TaskQueue.group)
            #expect(pending.array?.first == .integer(0))
        }
    }

    /// One tenant's backlog does not hold up another tenant's single task.
    @Test func aFloodingTenantDoesNotDelayAQuietOne() async throws {
        let q = try await TestQueues()
        let flooding = TestSupport.tenant()
        let quiet = TestSupport.tenant()
        let sync = String(decoding: TaskMessage(tenantID: flooding, type: .sync).json.encoded, as: UTF8.self)
        var commands: [[String]] = []
        for _ in 0..<2000 {
            var message = sync
            message = message.replacingOccurrences(of: "\"task_id\":\"", with: "\"task_id\":\"\(UUID().uuidString.lowercased())\",\"x\":\"")
            commands.append(["XADD", TaskQueue.tasks.key(flooding), "*", "message", message])
        }
        _ = try await q.redis.pipeline(commands)
        try await q.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: quiet)
            try await Task.sleep(for: .milliseconds(300))
            let task = TaskMessage(tenantID: quiet, type: .sync)
            try await q.redis.xadd(TaskQueue.tasks.key(quiet), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            let done = try await q.finished(admin, task.taskID.uuidString)
            #expect(done["status"] == .string("completed"))
            // Done entries are deleted: what is left is the flood still to do.
            let left = try await q.redis.send("XLEN", TaskQueue.tasks.key(flooding)).integer ?? 0
            #expect(left > 1000, "the quiet tenant was served while the flood was still queued (\(left) left)")
        }
    }
}

/// Task queues on a redis-server of the test's own.
struct TestQueues {
    let url: String
    let redis: RedisClient
    /// The test's own redis-server, kept running as long as this value lives: its queues, pending
    /// entries, consumers and leases are touched by no other test's consumer or flush.
    private let server: PrivateRedis

    init() async throws {
        server = try PrivateRedis()
        try await server.start()
        url = "redis://127.0.0.1:\(server.port)"
        redis = RedisClient(configuration: .init(url: try RedisURL(url)), logger: Logger(label: "test"))
    }

    func configuration() throws -> AppConfiguration {
        var config = try TestSupport.configuration()
        config.redisURL = url
        config.taskConsumer = true
        config.taskRetryBackOff = .milliseconds(20)
        return config
    }

    func app() async throws -> some ApplicationProtocol {
        let config = try configuration()
        return try await buildApplication(config, logger: makeLogger(config))
    }

    /// Queues a task as a producer would and waits for it to finish.
    func run(_ client: any TestClientProtocol, _ tenant: TenantID, _ type: TaskType, _ payload: [String: JSONValue]) async throws -> JSONValue {
        let task = TaskMessage(tenantID: tenant, type: type, metadata: ["user_id": .string("orchestrator")], payload: payload)
        try await redis.xadd(type.queue.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        return try await finished(try await Caller.make(client, tenant: tenant), task.taskID.uuidString)
    }

    func finished(_ caller: Caller, _ id: String, within seconds: Double = 15) async throws -> JSONValue {
        var last: JSONValue = .null
        _ = try await eventually(seconds) {
            let response = try await caller.send(.get, "/v1/tasks/\(id.lowercased())")
            guard response.status == .ok else { return false }
            last = try response.json()
            return last["status"] == .string("completed") || last["status"] == .string("failed")
        }
        return last
    }
}
