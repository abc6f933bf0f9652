import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import RedisTestSupport
import Testing

@testable import App

/// What the consumer holds is let go of: leases after a failed read, consumers of replicas that
/// are gone, tenants that have had no work for a while.
@Suite struct TaskConsumerUpkeepTests {
    /// By default a replica is named after its host and HTTP port, the same after a restart, also
    /// when the port is set after the environment is read (`serve --port`); `AMS_REPLICA_NAME` names it.
    @Test func theDefaultReplicaNameIsTheHostAndPort() throws {
        var config = try AppConfiguration.fromEnvironment(["AMS_HTTP_PORT": "9000"])
        #expect(config.hostName == ProcessInfo.processInfo.hostName, "looked up once, when the configuration is made")
        #expect(config.replicaName == config.hostName + ":9000")
        #expect(try AppConfiguration.fromEnvironment(["AMS_HTTP_PORT": "9000"]).replicaName == config.replicaName)
        config.port = 9001
        #expect(config.replicaName == ProcessInfo.processInfo.hostName + ":9001", "two replicas on one host differ")
        #expect(config.taskSettings.consumer == config.replicaName)
        let named = try AppConfiguration.fromEnvironment(["AMS_REPLICA_NAME": "named", "AMS_HTTP_PORT": "9000"])
        #expect(named.taskSettings.consumer == "named")
    }

    /// A read that fails (here WRONGTYPE, for a queue key that became a string) lets go of the
    /// tenant's lease, so another replica can take the tenant.
    @Test func aFailedReadLetsGoOfTheLeasesItTook() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let logs = LogCapture()
        try await buildApplication(try q.configuration(), logger: logs.logger(level: .warning)).test(.router) { client in
            #expect(try await q.run(client, tenant, .sync, [:])["status"] == .string("completed"))
            // One command, so that no read finds the key missing meanwhile (and forgets the queue).
            _ = try await q.redis.send("SET", TaskQueue.tasks.key(tenant), "in the way")
            // New work on another of its queues puts the tenant in line again; each read fails.
            let task = TaskMessage(tenantID: tenant, type: .sync)
            try await q.redis.xadd(TaskQueue.validation.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            let failed = try await eventually(10) { logs.lines.contains { $0.message == "task queues could not be read" } }
            try #require(failed, "the tenant's queues were read")
            let other = RedisTaskQueue(redis: q.redis, consumer: "another-replica", nonce: "test")
            #expect(
                try await eventually(10) { try await TaskLeaseTests.takesLease(other, tenant, [.validation]) },
                "another replica got the tenant's lease"
            )
        }
    }

    /// A tenant whose queue key became a string is set aside alone: another tenant picked in the
    /// same turns has its task done.
    @Test func aTenantWithABadQueueKeyHoldsUpNoOther() async throws {
        let q = try await TestQueues()
        let (bad, good) = (TestSupport.tenant(), TestSupport.tenant())
        let logs = LogCapture()
        try await buildApplication(try q.configuration(), logger: logs.logger(level: .warning)).test(.router) { client in
            #expect(try await q.run(client, bad, .sync, [:])["status"] == .string("completed"))
            // One command, so that no read finds the key missing meanwhile (and forgets the queue).
            _ = try await q.redis.send("SET", TaskQueue.tasks.key(bad), "in the way")
            let task = TaskMessage(tenantID: bad, type: .sync)
            try await q.redis.xadd(TaskQueue.validation.key(bad), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            let failed = try await eventually(10) { logs.lines.contains { $0.message == "task queues could not be read" } }
            try #require(failed, "the bad tenant's queues were read")
            #expect(try await q.run(client, good, .sync, [:])["status"] == .string("completed"))
        }
    }

    /// A start and four restarts of one replica: its tenant's group lists one consumer.
    @Test func restartsOfAReplicaLeaveOneConsumer() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let port = Int.random(in: 20_000...60_000)
        func replica() throws -> AppConfiguration {
            var config = try q.configuration()
            config.port = port
            return config
        }
        for _ in 0..<4 {
            let config = try replica()
            try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
                let done = try await q.run(client, tenant, .sync, [:])
                #expect(done["status"] == .string("completed"))
            }
        }
        let config = try replica()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            #expect(try await q.run(client, tenant, .sync, [:])["status"] == .string("completed"))
            var names: [String] = []
            let one = try await eventually(45) {
                names = try await Self.consumers(q.redis, TaskQueue.tasks.key(tenant))
                return names.count == 1
            }
            #expect(one, "\(names)")
        }
    }

    /// Consumers of replicas that are gone, without pending entries, are deleted; one that had an
    /// entry pending is deleted once that entry is claimed and done.
    @Test func consumersOfReplicasThatAreGoneAreDeleted() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let key = TaskQueue.tasks.key(tenant)
        try await q.redis.ensureGroup(key, group: TaskQueue.group)
        for gone in ["gone-1", "gone-2"] { _ = try await q.redis.send("XGROUP", "CREATECONSUMER", key, TaskQueue.group, gone) }
        let task = TaskMessage(tenantID: tenant, type: .sync)
        try await q.redis.xadd(key, [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        _ = try await q.redis.readGroup(TaskQueue.group, consumer: "gone-3", keys: [key], count: 1)
        #expect(try await Self.consumers(q.redis, key).sorted() == ["gone-1", "gone-2", "gone-3"])
        var config = try q.configuration()
        config.taskVisibilityTimeout = .seconds(1)
        let name = config.replicaName
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            #expect(try await q.finished(admin, task.taskID.uuidString)["status"] == .string("completed"))
            var names: [String] = []
            let pruned = try await eventually(15) {
                names = try await Self.consumers(q.redis, key)
                return names == [name]
            }
            #expect(pruned, "\(names)")
        }
    }

    /// A tenant whose queues are empty and that has had no work for the visibility timeout is
    /// forgotten: nothing more is asked of Redis about it (a private Redis, so the counts are its).
    @Test func anIdleTenantIsForgotten() async throws {
        let q = try await TestQueues()
        let redis = q.redis
        var config = try q.configuration()
        config.taskVisibilityTimeout = .seconds(1)
        let tenant = TestSupport.tenant()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            let task = TaskMessage(tenantID: tenant, type: .sync)
            try await redis.xadd(TaskQueue.tasks.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            let done = try await eventually(15) {
                try await admin.send(.get, "/v1/tasks/\(task.taskID.uuidString.lowercased())").json()["status"] == .string("completed")
            }
            try #require(done)
            /// Calls of the commands the consumer sends about a tenant it knows.
            func calls() async throws -> Int {
                let info = try await redis.send("INFO", "commandstats").string ?? ""
                return info.split(separator: "\r\n").reduce(0) { total, line in
                    let known = ["cmdstat_eval:", "cmdstat_xautoclaim:", "cmdstat_xreadgroup:", "cmdstat_xinfo:"]
                    guard known.contains(where: { line.hasPrefix($0) }), let calls = line.split(separator: "=").dropFirst().first else {
                        return total
                    }
                    return total + (Int(calls.prefix { $0.isNumber }) ?? 0)
                }
            }
            let quiet = try await eventually(15) {
                let before = try await calls()
                try await Task.sleep(for: .seconds(2))
                return try await calls() == before
            }
            #expect(quiet, "the idle tenant is no longer looked at")
            // And new work brings it back.
            let again = TaskMessage(tenantID: tenant, type: .sync)
            try await redis.xadd(TaskQueue.tasks.key(tenant), [("message", String(decoding: again.json.encoded, as: UTF8.self))])
            #expect(
                try await eventually(15) {
                    try await admin.send(.get, "/v1/tasks/\(again.taskID.uuidString.lowercased())").json()["status"] == .string("completed")
                }
            )
        }
    }

    static func consumers(_ redis: RedisClient, _ key: String) async throws -> [String] {
        (try await redis.send("XINFO", "CONSUMERS", key, TaskQueue.group).array ?? []).compactMap { consumer in
            let fields = consumer.array ?? []
            return zip(fields, fields.dropFirst()).first { $0.0.string == "name" }?.1.string
        }
    }
}
