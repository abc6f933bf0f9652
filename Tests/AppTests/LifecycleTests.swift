import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

@Suite struct LifecycleTests {
    /// How to bring a new draft to each status.
    static let paths: [AgentStatus: [AgentStatus]] = [
        .draft: [], .active: [.active], .inactive: [.active, .inactive], .archived: [.archived],
    ]

    @Test func everyTransitionIsAllowedOrRefusedAsDocumented() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            for from in AgentStatus.known {
                for to in AgentStatus.known {
                    let agent = try await admin.create("\(from.rawValue)-to-\(to.rawValue)")
                    for step in Self.paths[from]! {
                        let moved = try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"\#(step.rawValue)"}"#)
                        try #require(moved.status == .ok, "setting up \(from) failed: \(String(buffer: moved.body))")
                    }
                    let response = try await admin.send(
                        .post,
                        "/v1/agents/\(agent.id)/status",
                        json: #"{"status":"\#(to.rawValue)","reason":"test"}"#
                    )
                    let allowed: Set<String> = [
                        "draft>active", "draft>archived", "active>inactive", "inactive>active", "active>archived",
                        "inactive>archived", "archived>draft",
                    ]
                    if allowed.contains("\(from.rawValue)>\(to.rawValue)") {
                        #expect(response.status == .ok, "\(from) → \(to)")
                        #expect(try response.json()["status"] == .string(to.rawValue))
                        #expect(response.headers[.eTag] == "\"1\"", "a status change makes no version")
                    } else {
                        #expect(response.status == .conflict && response.errorCode == "AMS-305", "\(from) → \(to)")
                        let details = try response.json()["error"]?["details"]
                        #expect(details?["current_status"] == .string(from.rawValue))
                        #expect(details?["allowed"] == .array(from.allowedTargets.map { .string($0.rawValue) }))
                    }
                }
            }
        }
    }

    @Test func statusChangesAreGuardedAndRecorded() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor], subject: "ed")
            let admin = try await Caller.make(client, tenant: tenant, roles: [.admin], subject: "boss")
            let agent = try await editor.create("Guarded")
            let path = "/v1/agents/\(agent.id)/status"
            #expect(try await editor.send(.post, path, json: #"{"status":"active"}"#).errorCode == "AMS-204", "entering active takes admin")
            #expect(try await editor.send(.post, path, json: #"{"status":"archived"}"#).status == .ok, "other moves take editor")
            #expect(try await editor.send(.post, path, json: #"{"status":"draft"}"#).status == .ok)
            #expect(try await editor.send(.post, path, json: #"{"status":"paused"}"#).errorCode == "AMS-109")
            #expect(try await editor.send(.post, path, json: #"{}"#).errorCode == "AMS-109")
            #expect(try await editor.send(.post, path, json: #"{"status":"active","why":"x"}"#).errorCode == "AMS-109")
            let long = String(repeating: "é", count: 501)
            #expect(try await admin.send(.post, path, json: #"{"status":"active","reason":"\#(long)"}"#).errorCode == "AMS-109")
            #expect(try await admin.send(.post, path, json: #"{"status":"active"}"#, headers: [.ifMatch: "\"2\""]).errorCode == "AMS-306")
            let activated = try await admin.send(
                .post,
                path,
                json: #"{"status":"active","reason":"launch"}"#,
                headers: [.ifMatch: "\"1\"", .init("X-Request-ID")!: "launch-1"]
            )
            #expect(activated.status == .ok && activated.headers[.eTag] == "\"1\"")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["status"] == .string("active"), "the cache saw the change")
            #expect(try await admin.send(.post, "/v1/agents/\(UUID().uuidString)/status", json: #"{"status":"active"}"#).errorCode == "AMS-301")

            let versions = try await admin.send(.get, "/v1/agents/\(agent.id)/versions").json()
            #expect(try versions["items"]!.items().count == 1, "status changes make no version")
            let entries = try await admin.send(.get, "/v1/agents/\(agent.id)/history").json()["items"]!.items()
            #expect(entries.map { $0["action"]?.stringValue } == ["status_changed", "status_changed", "status_changed", "created"])
            let latest = entries[0]
            #expect(latest["actor"] == .string("boss") && latest["roles"] == .array([.string("admin")]))
            #expect(latest["request_id"] == .string("launch-1") && latest["version"] == .int(1))
            #expect(latest["details"] == .object(["from": .string("draft"), "to": .string("active"), "reason": .string("launch")]))
            #expect(latest["at"]?.stringValue?.hasSuffix("Z") == true)
        }
    }

    /// An agent whose stored validation is invalid (its tier changed under it) cannot become active.
    @Test func anInvalidAgentCannotBecomeActive() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Broken")
            try await withDatabase { db in
                try await db.withTransaction(logger: Logger(label: "test")) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                    let invalid = #"{"status":"invalid","issues":[{"code":"AMS-106","severity":"error","path":"/type","message":"not allowed"}]}"#
                    try await conn.query(
                        "UPDATE agents SET validation = \(invalid)::jsonb WHERE id = \(UUID(uuidString: agent.id)!)",
                        logger: Logger(label: "test")
                    )
                }
            }
            let refused = try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#)
            #expect(refused.status == .conflict && refused.errorCode == "AMS-305")
            #expect(try refused.json()["error"]?["details"]?["current_status"] == .string("draft"))
        }
    }

    @Test func deleteIsSoftAndRestoreBringsTheAgentBack() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Phoenix")
            _ = try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"v2"}"#)
            #expect(try await admin.send(.delete, "/v1/agents/\(agent.id)").status == .noContent)
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").errorCode == "AMS-301")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)/versions").errorCode == "AMS-301")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)/history").errorCode == "AMS-301")
            #expect(try await admin.send(.get, "/v1/tenant").json()["usage"]?["agents"] == .int(0), "the quota slot is free")

            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            #expect(try await editor.send(.post, "/v1/agents/\(agent.id)/restore").errorCode == "AMS-204")
            let namesake = try await admin.create("Phoenix")
            let blocked = try await admin.send(.post, "/v1/agents/\(agent.id)/restore")
            #expect(blocked.status == .conflict && blocked.errorCode == "AMS-102", "the name is taken again")
            #expect(try await admin.send(.delete, "/v1/agents/\(namesake.id)").status == .noContent)

            let restored = try await admin.send(.post, "/v1/agents/\(agent.id)/restore")
            #expect(restored.status == .ok && restored.headers[.eTag] == "\"2\"")
            #expect(try restored.json()["description"] == .string("v2"))
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(2))
            #expect(try await admin.send(.post, "/v1/agents/\(agent.id)/restore").errorCode == "AMS-301", "a live agent has nothing to restore")
            #expect(try await admin.send(.post, "/v1/agents/\(UUID().uuidString)/restore").errorCode == "AMS-301")
            let history = try await admin.send(.get, "/v1/agents/\(agent.id)/history").json()["items"]!.items()
            #expect(history.map { $0["action"]?.stringValue } == ["restored", "deleted", "updated", "created"])
        }
    }

    @Test func restoreRespectsTheQuota() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let limit = try await admin.send(.get, "/v1/tenant").json()["limits"]?["max_agents"]?.int ?? 0
            try #require(limit > 0 && limit <= 10)
            let first = try await admin.create("First")
            #expect(try await admin.send(.delete, "/v1/agents/\(first.id)").status == .noContent)
            for i in 0..<limit { _ = try await admin.create("Filler \(i)") }
            let full = try await admin.send(.post, "/v1/agents/\(first.id)/restore")
            #expect(full.status == .forbidden && full.errorCode == "AMS-207")
        }
    }

    /// Past the retention window the purge removes the agent and its versions; its history stays.
    @Test func thePurgeRemovesExpiredAgentsButKeepsTheirHistory() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
            let deps = TenantDependencies(
                stores,
                validators: .builtin,
                policy: policy,
                catalog: ToolCatalogCache(store: stores.tools),
                cacheCapacity: 10,
                retention: .seconds(3600)
            )
            let tenant = TestSupport.tenant()
            let actor = TenantActor(tenantID: tenant, deps: deps, caching: false)
            let kept = try await actor.create(AgentConfig(name: "Kept", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)
            let doomed = try await actor.create(AgentConfig(name: "Doomed", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)
            try await actor.delete(kept.id, ifMatch: nil, audit: .test)
            try await actor.delete(doomed.id, ifMatch: nil, audit: .test)
            try await client.withTransaction(logger: Logger(label: "test")) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                try await conn.query(
                    "UPDATE agents SET deleted_at = now() - interval '2 hours' WHERE id = \(doomed.id)",
                    logger: Logger(label: "test")
                )
            }
            let purge = RetentionPurge(
                agents: stores.agents,
                tasks: stores.tasks,
                deletedRetention: .seconds(3600),
                taskRetention: .seconds(3600),
                interval: .seconds(3600),
                logger: Logger(label: "test")
            )
            await purge.purgeOnce()
            await #expect(throws: ServiceError.agentNotFound()) { try await actor.restore(doomed.id, audit: .test) }
            await #expect(throws: ServiceError.agentNotFound(), "the API shows no history of a deleted agent") {
                try await actor.history(of: doomed.id, limit: 10, before: nil)
            }
            let history = try await stores.versions.history(of: doomed.id, tenant: tenant, limit: 10, before: nil)
            #expect(history.items.map(\.action) == [.deleted, .created], "history outlives the agent")
            try await client.withTransaction(logger: Logger(label: "test")) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                let rows = try await conn.query(
                    "SELECT count(*)::int FROM agent_versions WHERE agent_id = \(doomed.id)",
                    logger: Logger(label: "test")
                )
                for try await count in rows.decode(Int.self) { #expect(count == 0, "versions go with their agent") }
                let keptRows = try await conn.query(
                    "SELECT count(*)::int FROM agent_versions WHERE agent_id = \(kept.id)",
                    logger: Logger(label: "test")
                )
                for try await count in keptRows.decode(Int.self) { #expect(count == 1, "only the purged agent's versions go") }
            }
            #expect(try await actor.restore(kept.id, audit: .test).version == 1, "within the window the agent comes back")
        }
    }
}
