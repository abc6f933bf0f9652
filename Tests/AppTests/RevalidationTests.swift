import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import RedisTestSupport
import Testing

@testable import App

/// Tier and tool catalog changes queue `revalidate_tenant` for the tenants they affect; agents that
/// no longer pass are marked invalid, and nothing else about them changes. On a database of its
/// own: it replaces the catalog, which other suites read.
@Suite struct RevalidationTests {
    @Test func tierAndCatalogChangesMarkAgentsThatNoLongerPass() async throws {
        let q = try await TestQueues()
        var config = try q.configuration()
        let databaseURL = try await TestSupport.freshDatabase()
        config.databaseURL = databaseURL
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Big model", #""llm_config":{"model":"gpt-4.1"}"#)
            #expect(agent["validation"]?["status"] != .string("invalid"))

            // advance does not allow gpt-4.1.
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"advance"}"#).status == .ok)
            #expect(
                try await eventually(15) {
                    try await admin.send(.get, "/v1/agents/\(agent.id)").json()["validation"]?["status"] == .string("invalid")
                },
                "the tier change re-validated the agent"
            )
            let after = try await admin.send(.get, "/v1/agents/\(agent.id)").json()
            #expect(after["version"] == agent["version"] && after["llm_config"] == agent["llm_config"], "only the validation changed")
            let history = try await admin.send(.get, "/v1/agents/\(agent.id)/history").json()["items"]?.items() ?? []
            #expect(history.first?["action"] == .string("validated") && history.first?["details"] == .object(["status": .string("invalid")]))
            // Two tier changes (free to professional when the tenant was set up, then to advance), newest first.
            let tasks = try await admin.send(.get, "/v1/tasks?type=revalidate_tenant").json()["items"]?.items() ?? []
            #expect(
                tasks.count == 2 && tasks.allSatisfy { $0["metadata"] == .object(["source": .string("system"), "reason": .string("tier_changed")]) }
            )
            // The agent's new validation is announced as a task's doing, between its start and its end.
            // Which of the two does it depends on when the first runs: each validates against the tier
            // it finds.
            // The second task may still be running when the first has re-validated the agent.
            var seen: [[String]] = []
            let ended = try await eventually(15) {
                seen = []
                for task in tasks { seen.append(try await events(of: try #require(task["task_id"]?.stringValue), in: databaseURL)) }
                return seen.allSatisfy { $0.last == "task_completed" }
            }
            #expect(ended, "both tasks ended: \(seen)")
            #expect(
                seen.sorted { $0.count > $1.count }
                    == [["task_status_update", "agent_validated", "task_completed"], ["task_status_update", "task_completed"]],
                "\(seen)"
            )

            // The catalog loses `search`: only tenants whose agents use it are re-validated.
            let user = try await TestSupport.tenant(on: .enterprise, client)
            let userAdmin = try await Caller.make(client, tenant: user)
            let searching = try await userAdmin.create("Searcher", #""tools":["search"]"#)
            let bystander = try await TestSupport.tenant(on: .enterprise, client)
            _ = try await Caller.make(client, tenant: bystander).create("No tools")
            let catalog = try await service.send(.get, "/internal/v1/tools").json().items().filter { $0["id"] != .string("search") }
            let put = try await service.send(.put, "/internal/v1/tools", json: String(decoding: JSONValue.array(catalog).encoded, as: UTF8.self))
            #expect(put.status == .ok)
            #expect(
                try await eventually(15) {
                    try await userAdmin.send(.get, "/v1/agents/\(searching.id)").json()["validation"]?["status"] == .string("invalid")
                },
                "the catalog change re-validated the agent that uses the tool"
            )
            func catalogTasks(_ tenant: TenantID) async throws -> Int {
                let items =
                    try await Caller.make(client, tenant: tenant).send(.get, "/v1/tasks?type=revalidate_tenant").json()["items"]?.items() ?? []
                return items.filter { $0["metadata"]?["reason"] == .string("tool_catalog_changed") }.count
            }
            #expect(try await catalogTasks(user) == 1)
            #expect(try await catalogTasks(bystander) == 0, "a tenant whose agents use no changed tool is left alone")
        }
    }

    /// A tier change and a catalog change commit while Redis is down: each records its revalidation
    /// with it, and once Redis is back the revalidations are queued and run.
    @Test func revalidationsRecordedWhileRedisIsDownRunOnceItIsBack() async throws {
        let server = try PrivateRedis(appendOnly: true)
        try await server.start()
        defer { server.stop() }
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.redisURL = "redis://127.0.0.1:\(server.port)"
        config.redisTimeout = .milliseconds(500)
        config.taskConsumer = true
        config.taskRetryBackOff = .milliseconds(20)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Big model", #""llm_config":{"model":"gpt-4.1"}"#)
            let user = try await TestSupport.tenant(on: .enterprise, client)
            let userAdmin = try await Caller.make(client, tenant: user)
            let searching = try await userAdmin.create("Searcher", #""tools":["search"]"#)
            func revalidations(_ caller: Caller, _ reason: String) async throws -> [JSONValue] {
                let items = try await caller.send(.get, "/v1/tasks?type=revalidate_tenant").json()["items"]?.items() ?? []
                return items.filter { $0["metadata"]?["reason"] == .string(reason) }
            }
            #expect(try await eventually(15) { try await revalidations(admin, "tier_changed").first?["status"] == .string("completed") })

            server.stop()
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"advance"}"#).status == .ok)
            let catalog = try await service.send(.get, "/internal/v1/tools").json().items().filter { $0["id"] != .string("search") }
            let put = try await service.send(.put, "/internal/v1/tools", json: String(decoding: JSONValue.array(catalog).encoded, as: UTF8.self))
            #expect(put.status == .ok, "the changes stand while Redis is down")
            // The relay tries, and fails, while Redis stays down.
            try await Task.sleep(for: .seconds(2))
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["validation"]?["status"] != .string("invalid"))

            try await server.start()
            #expect(
                try await eventually(30) {
                    try await admin.send(.get, "/v1/agents/\(agent.id)").json()["validation"]?["status"] == .string("invalid")
                },
                "the tier change's revalidation ran once Redis was back"
            )
            #expect(
                try await eventually(15) {
                    try await userAdmin.send(.get, "/v1/agents/\(searching.id)").json()["validation"]?["status"] == .string("invalid")
                },
                "the catalog change's revalidation ran once Redis was back"
            )
            #expect(try await eventually(15) { try await revalidations(admin, "tier_changed").count == 2 })
            #expect(try await revalidations(userAdmin, "tool_catalog_changed").count == 1)
        }
    }

    /// The events recorded for a task, in order (read as a superuser: the outbox is per tenant).
    private func events(of taskID: String, in databaseURL: String) async throws -> [String] {
        guard let admin = ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"] else { throw TestSupport.ConfigurationMissing() }
        var parts = URLComponents(string: admin)!
        parts.path = URLComponents(string: databaseURL)!.path
        let client = PostgresClient(configuration: try .init(url: parts.string!))
        return try await withThrowingTaskGroup(of: [String]?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            var names: [String] = []
            let id = UUID(uuidString: taskID)!
            for try await name in try await client.query("SELECT event FROM outbox WHERE task_id = \(id) ORDER BY id").decode(String.self) {
                names.append(name)
            }
            return names
        }
    }
}
