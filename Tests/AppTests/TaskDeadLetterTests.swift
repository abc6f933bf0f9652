import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import Testing

@testable import App

/// A failed task's dead letter is never lost: when Redis refuses it, the task is still recorded
/// `failed` at once, and the entry's redelivery writes the letter, then acknowledges.
@Suite struct TaskDeadLetterTests {
    @Test func aDeadLetterRedisRefusedIsWrittenByTheRedelivery() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        let deadKey = TaskQueue.deadLetterKey(tenant)
        let key = TaskQueue.tasks.key(tenant)
        // A string where the dead-letter stream goes: its XADD answers WRONGTYPE.
        _ = try await q.redis.send("SET", deadKey, "in the way")
        try await q.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            let task = TaskMessage(
                tenantID: tenant,
                type: .agentUpdate,
                payload: ["agent_id": .string(UUID().uuidString), "config": .object([:])]
            )
            try await q.redis.xadd(key, [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            let failed = try await q.finished(admin, task.taskID.uuidString)
            #expect(failed["status"] == .string("failed") && failed["error"]?["error_type"] == .string("not_found"), "\(failed)")
            // Redelivered meanwhile, and refused again: still pending.
            try await Task.sleep(for: .seconds(1))
            #expect(try await q.redis.send("XPENDING", key, TaskQueue.group).array?.first == .integer(1), "the letter is owed")
            _ = try await q.redis.send("DEL", deadKey)
            var reasons: [String] = []
            let written = try await eventually(20) {
                let dead = try await q.redis.send("XRANGE", deadKey, "-", "+").array ?? []
                reasons = dead.compactMap { entry in
                    guard let fields = entry.array?[1].array else { return nil }
                    return zip(fields, fields.dropFirst()).first { $0.0.string == "reason" }?.1.string
                }
                let pending = try await q.redis.send("XPENDING", key, TaskQueue.group).array?.first
                return reasons.count == 1 && pending == .integer(0)
            }
            #expect(written, "the redelivery wrote the dead letter, then acknowledged (\(reasons))")
            #expect(reasons.first?.hasPrefix("not_found: ") == true, "\(reasons)")
            let owed = try await withDatabase { pg in
                try await PostgresStores(client: pg, defaultTier: .free, logger: Logger(label: "test")).tasks
                    .deadLettersOwed([task.taskID], tenant: tenant)
            }
            #expect(owed.isEmpty, "the letter is recorded as written")
        }
    }
}
