import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// Entries left pending (a batch cut short, a replica that died) belong to whoever takes the
/// tenant's lease: they run at once, before newer ones, and one tenant's slow batch holds up no
/// other tenant's.
@Suite struct TaskOrderTests {
    /// 40 updates of one agent; the first batch waits on a row lock when the replica stops. After
    /// the restart the 32 it had read run first, at once, then the 8 it had not: all 40 end in
    /// time, and the agent is left as the last one made it.
    @Test func aBatchCutShortByARestartRunsFirstAndAtOnce() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        var config = try q.configuration()
        // A replica's port, so that its name stays the same across its restarts (nothing binds it here).
        config.port = Int.random(in: 20_000...60_000)
        var quiet = config
        quiet.taskConsumer = false
        let agentID = try await buildApplication(quiet, logger: makeLogger(quiet)).test(.router) { client in
            try await Caller.make(client, tenant: tenant).create("Ordered").id
        }
        let tasks = (1...40).map { i in
            TaskMessage(
                tenantID: tenant,
                type: .agentUpdate,
                payload: ["agent_id": .string(agentID), "config": .object(["description": .string("\(i)")])]
            )
        }
        for task in tasks {
            try await q.redis.xadd(TaskQueue.tasks.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        }
        let (logger, replica) = (Logger(label: "test"), config)
        try await withDatabase { pg in
            try await pg.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                try await conn.query("SELECT 1 FROM agents WHERE id = \(UUID(uuidString: agentID)!) FOR UPDATE", logger: logger)
                try await buildApplication(replica, logger: makeLogger(replica)).test(.router) { client in
                    let admin = try await Caller.make(client, tenant: tenant)
                    let started = try await eventually(20) {
                        try await admin.send(.get, "/v1/tasks/\(tasks[0].taskID.uuidString.lowercased())").json()["status"]
                            == .string("processing")
                    }
                    try #require(started, "the first batch never started")
                    // The first update waits on the lock when the replica stops.
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
        }
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            var completed = 0
            let all = try await eventually(25) {
                completed = try await admin.send(.get, "/v1/tasks?status=completed&limit=100").json()["items"]?.items().count ?? 0
                return completed == 40
            }
            #expect(all, "all 40 tasks completed within 25 s of the restart (\(completed) did)")
            #expect(try await admin.send(.get, "/v1/agents/\(agentID)").json()["description"] == .string("40"))
        }
    }

    /// A dead replica left entries of many tenants pending, one of which waits on a row lock: the
    /// others are claimed and served meanwhile, each by its own turn, not behind the slow one.
    @Test func aSlowTenantDoesNotHoldUpTheEntriesOthersLeftPending() async throws {
        let q = try await TestQueues()
        let slow = TestSupport.tenant()
        let quick = (0..<12).map { _ in TestSupport.tenant() }
        var config = try q.configuration()
        config.taskVisibilityTimeout = .seconds(1)
        var quiet = config
        quiet.taskConsumer = false
        let agentID = try await buildApplication(quiet, logger: makeLogger(quiet)).test(.router) { client in
            try await Caller.make(client, tenant: slow).create("Locked").id
        }
        let blocked = TaskMessage(
            tenantID: slow,
            type: .agentUpdate,
            payload: ["agent_id": .string(agentID), "config": .object(["description": .string("late")])]
        )
        let syncs = quick.map { TaskMessage(tenantID: $0, type: .sync) }
        for task in [blocked] + syncs {
            let key = TaskQueue.tasks.key(task.tenantID)
            try await q.redis.ensureGroup(key, group: TaskQueue.group)
            try await q.redis.xadd(key, [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        }
        let keys = ([slow] + quick).map { TaskQueue.tasks.key($0) }
        let read = try await q.redis.readGroup(TaskQueue.group, consumer: "dead-replica", keys: keys, count: 10)
        try #require(read.count == 13)
        let (logger, replica) = (Logger(label: "test"), config)
        try await withDatabase { pg in
            try await pg.withTransaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(slow), true)", logger: logger)
                try await conn.query("SELECT 1 FROM agents WHERE id = \(UUID(uuidString: agentID)!) FOR UPDATE", logger: logger)
                try await buildApplication(replica, logger: makeLogger(replica)).test(.router) { client in
                    var callers: [Caller] = []
                    for tenant in quick { callers.append(try await Caller.make(client, tenant: tenant)) }
                    var done = 0
                    let served = try await eventually(20) {
                        done = 0
                        for (caller, task) in zip(callers, syncs) {
                            let status = try await caller.send(.get, "/v1/tasks/\(task.taskID.uuidString.lowercased())").json()["status"]
                            if status == .string("completed") { done += 1 }
                        }
                        return done == quick.count
                    }
                    #expect(served, "the other tenants' entries were served while one tenant waited (\(done) of 12)")
                    let admin = try await Caller.make(client, tenant: slow)
                    let status = try await admin.send(.get, "/v1/tasks/\(blocked.taskID.uuidString.lowercased())").json()["status"]
                    #expect(status != .string("completed"), "the slow tenant was still waiting on its lock")
                }
            }
        }
    }
}
