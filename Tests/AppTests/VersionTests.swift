import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import Testing

@testable import App

@Suite struct VersionTests {
    /// The configuration fields of an agent, as versions compare them (no status, no bookkeeping).
    static func configuration(_ agent: JSONValue) -> JSONValue {
        var fields = agent.objectValue ?? [:]
        for key in ["id", "tenant_id", "status", "version", "validation", "created_at", "updated_at", "created_by", "updated_by", "changes"] {
            fields[key] = nil
        }
        return .object(fields)
    }

    @Test func concurrentPatchesGetEveryVersionOnceAndLoseNothing() async throws {
        try await TestSupport.app().test(.router) { client in
            let editor = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor])
            let agent = try await editor.create("Busy")
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, Int?).self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let r = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"metadata":{"k\#(i)":\#(i)}}"#)
                        return (r.status, try? r.json()["version"]?.int)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.0 == .ok })
            #expect(statuses.compactMap(\.1).sorted() == Array(2...51), "each write has its own version")

            let final = try await editor.send(.get, "/v1/agents/\(agent.id)").json()
            #expect(final["version"] == .int(51))
            #expect(final["metadata"]?.objectValue?.count == 50, "no update was lost")

            var versions: [Int] = []
            var cursor = ""
            repeat {
                let page = try await editor.send(.get, "/v1/agents/\(agent.id)/versions?limit=20&cursor=\(cursor)").json()
                versions += try page["items"]!.items().compactMap { $0["version"]?.int }
                cursor = page["next_cursor"]?.stringValue ?? ""
            } while !cursor.isEmpty
            #expect(versions == Array((1...51).reversed()), "no gaps, no duplicates, newest first")
        }
    }

    /// Two replicas' actors on one database: the revision check in the store serializes them.
    @Test func writesFromTwoReplicasAreSerializedByTheStore() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .enterprise, logger: Logger(label: "test"))
            let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
            let deps = TenantDependencies(
                stores,
                validators: .builtin,
                policy: policy,
                catalog: ToolCatalogCache(store: stores.tools),
                cacheCapacity: 10
            )
            let tenant = TestSupport.tenant()
            let replicas = [TenantActor(tenantID: tenant, deps: deps, caching: false), TenantActor(tenantID: tenant, deps: deps, caching: false)]
            let created = try await replicas[0].create(AgentConfig(name: "Shared", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await replicas[i % 2].patch(
                            created.id,
                            with: .object(["metadata": .object(["k\(i)": .int(i)])]),
                            ifMatch: nil,
                            audit: .test
                        ).version
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(versions.sorted() == Array(2...21))
            let stored = try #require(try await stores.agents.agent(created.id, tenant: tenant))
            #expect(stored.config.metadata.count == 20)
            let page = try #require(try await stores.versions.versions(of: created.id, tenant: tenant, limit: 200, before: nil))
            #expect(page.items.map(\.version) == Array((1...21).reversed()))
        }
    }

    @Test func ofManyWritesWithTheSameIfMatchExactlyOneWins() async throws {
        try await TestSupport.app().test(.router) { client in
            let editor = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor])
            let agent = try await editor.create("Contested")
            let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for i in 0..<10 {
                    group.addTask {
                        try await editor.send(
                            .patch,
                            "/v1/agents/\(agent.id)",
                            json: #"{"description":"writer \#(i)"}"#,
                            headers: [.ifMatch: "\"1\""]
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(responses.filter { $0.status == .ok }.count == 1)
            let refused = responses.filter { $0.status != .ok }
            #expect(refused.count == 9)
            for r in refused {
                #expect(r.status == .preconditionFailed && r.errorCode == "AMS-306")
                #expect(try r.json()["error"]?["details"]?["current_version"] == .int(2))
            }
            let star = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"any"}"#, headers: [.ifMatch: "*"])
            #expect(star.status == .ok && star.headers[.eTag] == "\"3\"")
            let weak = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"weak"}"#, headers: [.ifMatch: "W/\"3\""])
            #expect(weak.status == .preconditionFailed, "If-Match compares strongly")
            let invalid = try await editor.send(
                .patch,
                "/v1/agents/\(agent.id)",
                json: #"{"llm_config":{"temperature":9}}"#,
                headers: [.ifMatch: "\"1\""]
            )
            #expect(invalid.errorCode == "AMS-100", "a bad body is reported before a stale If-Match")
            let admin = try await Caller.make(client, tenant: agent["tenant_id"]?.stringValue, roles: [.admin])
            let staleDelete = try await admin.send(.delete, "/v1/agents/\(agent.id)", headers: [.ifMatch: "\"2\""])
            #expect(staleDelete.status == .preconditionFailed && staleDelete.errorCode == "AMS-306")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").status == .ok, "a refused delete leaves the agent")
            #expect(try await admin.send(.delete, "/v1/agents/\(agent.id)", headers: [.ifMatch: "\"3\""]).status == .noContent)
        }
    }

    @Test func versionsDiffAndRollbackRoundTrip() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor], subject: "ed")
            let v1 = try await editor.create("Tutor", #""system_prompt":"Be kind.","tools":["search"],"metadata":{"team":"a"}"#)
            let v2 = try await editor.send(
                .patch,
                "/v1/agents/\(v1.id)",
                json: """
                    {"system_prompt":"Be brief.","llm_config":{"temperature":0.2},"tools":["search","calculator"],"metadata":{"team":null,"owner":"b"}}
                    """
            ).json()
            #expect(v2["version"] == .int(2))

            let diff = try await editor.send(.get, "/v1/agents/\(v1.id)/diff?from=1&to=2").json()
            #expect(diff["from"] == .int(1) && diff["to"] == .int(2))
            let changes = try diff["changes"]!.items()
            #expect(changes.contains(.object(["op": .string("add"), "path": .string("/llm_config/temperature"), "value": .double(0.2)])))
            #expect(changes.contains(.object(["op": .string("replace"), "path": .string("/system_prompt"), "value": .string("Be brief.")])))
            #expect(changes.contains(.object(["op": .string("remove"), "path": .string("/metadata/team")])))
            #expect(changes.contains(.object(["op": .string("add"), "path": .string("/metadata/owner"), "value": .string("b")])))
            #expect(changes.contains { $0["path"] == .string("/tools") && $0["op"] == .string("replace") }, "arrays are replaced whole")
            let operations = try #require(JSONPatch.operations(diff["changes"]!))
            #expect(try JSONPatch.apply(operations, to: Self.configuration(v1)) == Self.configuration(v2))

            let back = try await editor.send(.post, "/v1/agents/\(v1.id)/rollback", json: #"{"version":1}"#)
            #expect(back.status == .ok && back.headers[.eTag] == "\"3\"")
            let v3 = try back.json()
            #expect(v3["version"] == .int(3))
            #expect(Self.configuration(v3) == Self.configuration(v1))

            let list = try await editor.send(.get, "/v1/agents/\(v1.id)/versions").json()
            let items = try list["items"]!.items()
            #expect(items.map { $0["version"]?.int } == [3, 2, 1])
            #expect(items.allSatisfy { $0["created_by"] == .string("ed") && $0["created_at"]?.stringValue?.hasSuffix("Z") == true })
            #expect(list["next_cursor"] == .null)
            #expect(try items[0]["changes"]!.items().count == changes.count, "the rollback undoes each change")
            #expect(try items[2]["changes"]!.items().allSatisfy { $0["op"] == .string("add") && $0["path"] != .string("/status") })

            let old = try await editor.send(.get, "/v1/agents/\(v1.id)/versions/2")
            #expect(old.status == .ok)
            let oldJSON = try old.json()
            #expect(Self.configuration(oldJSON) == Self.configuration(v2) && oldJSON["version"] == .int(2))
            #expect(oldJSON["id"] == v1["id"] && oldJSON["changes"] == items[1]["changes"])

            let history = try await editor.send(.get, "/v1/agents/\(v1.id)/history").json()
            #expect(try history["items"]!.items().map { $0["action"]?.stringValue } == ["rolled_back", "updated", "created"])
        }
    }

    @Test func versionErrorsAreReportedPrecisely() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            let agent = try await editor.create("Precise")
            let missing = UUID().uuidString
            #expect(try await editor.send(.get, "/v1/agents/\(missing)/versions").errorCode == "AMS-301")
            #expect(try await editor.send(.get, "/v1/agents/\(missing)/versions/1").errorCode == "AMS-301")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)/versions/2").errorCode == "AMS-302")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)/versions/x").errorCode == "AMS-302")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)/diff?from=1&to=9").errorCode == "AMS-302")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)/diff?from=1").errorCode == "AMS-109")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)/diff?from=0&to=1").errorCode == "AMS-109")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)/versions?limit=0").errorCode == "AMS-109")
            #expect(try await editor.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":"1"}"#).errorCode == "AMS-109")
            #expect(try await editor.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":1,"x":1}"#).errorCode == "AMS-109")
            #expect(try await editor.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":7}"#).errorCode == "AMS-302")
            let same = try await editor.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":1}"#)
            #expect(try same.status == .ok && same.json()["version"] == .int(1), "rolling back to what the agent is makes no version")
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            #expect(try await viewer.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":1}"#).errorCode == "AMS-204")
            #expect(try await viewer.send(.get, "/v1/agents/\(agent.id)/versions").status == .ok)
            let stranger = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.admin])
            #expect(try await stranger.send(.get, "/v1/agents/\(agent.id)/versions").errorCode == "AMS-301")
            #expect(try await stranger.send(.get, "/v1/agents/\(agent.id)/history").errorCode == "AMS-301")
        }
    }

    /// A rollback is checked against today's tier: what was valid once may no longer be.
    @Test func aRollbackThatIsNoLongerValidWritesNothing() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let service = Caller(client: client, token: try await TestSupport.token(tenant: nil, roles: [.service]))
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"enterprise"}"#).status == .ok)
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Tiered", #""type":"workflow""#)
            #expect(try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"type":"conversational"}"#).status == .ok)
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"free"}"#).status == .ok)
            let refused = try await admin.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":1}"#)
            #expect(refused.status == .badRequest && refused.errorCode == "AMS-100")
            let current = try await admin.send(.get, "/v1/agents/\(agent.id)").json()
            #expect(current["version"] == .int(2) && current["type"] == .string("conversational"))
        }
    }
}

@Suite struct IdempotencyTests {
    @Test func aCreateRetriedTwentyTimesMakesOneAgent() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            let body = #"{"name":"Once","llm_config":{"model":"gpt-4o-mini"}}"#
            let key: HTTPFields = [Idempotency.keyField: "create-once-1"]
            let first = try await editor.send(.post, "/v1/agents", json: body, headers: key)
            #expect(first.status == .created && first.headers[Idempotency.replayedField] == nil)
            let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<19 { group.addTask { try await editor.send(.post, "/v1/agents", json: body, headers: key) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for r in responses {
                #expect(r.status == .created && r.body == first.body)
                #expect(r.headers[.location] == first.headers[.location] && r.headers[.eTag] == "\"1\"")
                #expect(r.headers[Idempotency.replayedField] == "true")
            }
            let list = try await editor.send(.get, "/v1/agents").json()
            #expect(try list["items"]!.items().count == 1)

            let other = try await editor.send(.post, "/v1/agents", json: #"{"name":"Twice","llm_config":{"model":"gpt-4o-mini"}}"#, headers: key)
            #expect(other.status == .conflict && other.errorCode == "AMS-307")
            let otherPath = try await editor.send(.post, "/v1/agents/\(try first.json().id)/rollback", json: body, headers: key)
            #expect(otherPath.errorCode == "AMS-307", "a key names one request, path included")
            let bad = try await editor.send(.post, "/v1/agents", json: body, headers: [Idempotency.keyField: "has space"])
            #expect(bad.errorCode == "AMS-109")
            let elsewhere = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client), roles: [.editor])
            #expect(try await elsewhere.send(.post, "/v1/agents", json: body, headers: key).status == .created, "keys are per tenant")
        }
    }

    @Test func aFailedRequestFreesItsKey() async throws {
        try await TestSupport.app().test(.router) { client in
            let editor = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor])
            let key: HTTPFields = [Idempotency.keyField: "retry-after-fix"]
            _ = try await editor.create("Taken")
            let body = #"{"name":"Taken","llm_config":{"model":"gpt-4o-mini"}}"#
            #expect(try await editor.send(.post, "/v1/agents", json: body, headers: key).errorCode == "AMS-102")
            #expect(try await editor.send(.post, "/v1/agents", json: body, headers: key).errorCode == "AMS-102", "the work was done again")
            let agent = try await editor.create("Rolling")
            _ = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"v2"}"#)
            let rollKey: HTTPFields = [Idempotency.keyField: "roll-1"]
            let rolled = try await editor.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":1}"#, headers: rollKey)
            #expect(rolled.status == .ok && rolled.headers[.eTag] == "\"3\"")
            _ = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"v4"}"#)
            let again = try await editor.send(.post, "/v1/agents/\(agent.id)/rollback", json: #"{"version":1}"#, headers: rollKey)
            #expect(again.body == rolled.body && again.headers[.eTag] == "\"3\"", "the replay is the first response, not a new rollback")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(4))
        }
    }
}

extension VersionTests {
    @Test func ifMatchBeyondAnyVersionIsStaleNotAnError() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Huge")
            for tag in ["\"3000000000\"", "\"99999999999999999999\"", "\"-1\"", "nonsense"] {
                let r = try await admin.send(.delete, "/v1/agents/\(agent.id)", headers: [.ifMatch: tag])
                #expect(r.status == .preconditionFailed && r.errorCode == "AMS-306", "If-Match: \(tag)")
            }
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").status == .ok)
        }
    }

    /// The write queue of an agent hands the turn on after a refused write too.
    @Test func aRefusedWriteHandsTheTurnOn() async throws {
        try await TestSupport.app().test(.router) { client in
            let editor = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor])
            let agent = try await editor.create("Turns")
            let outcomes = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        let body = i % 3 == 0 ? #"{"llm_config":{"temperature":9}}"# : #"{"description":"d\#(i)"}"#
                        let headers: HTTPFields = i % 4 == 1 ? [.ifMatch: "\"999\""] : [:]
                        return try await editor.send(.patch, "/v1/agents/\(agent.id)", json: body, headers: headers).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.count == 12, "no write waited forever")
            let ok = outcomes.filter { $0 == .ok }.count
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(1 + ok))
        }
    }
}

/// A store where every optimistic write loses, as if another replica always won the race.
final class AlwaysOvertakenStore: ForwardingAgentStore {
    let base: PostgresAgentStore
    init(_ base: PostgresAgentStore) { self.base = base }

    func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool {
        false
    }
}

extension VersionTests {
    @Test func aWriterThatKeepsLosingFinishesUnderTheRowLock() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .enterprise, logger: Logger(label: "test"))
            let store = AlwaysOvertakenStore(stores.agents)
            let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
            let deps = TenantDependencies(
                stores,
                agents: store,
                validators: .builtin,
                policy: policy,
                catalog: ToolCatalogCache(store: stores.tools),
                cacheCapacity: 10
            )
            let actor = TenantActor(tenantID: TestSupport.tenant(), deps: deps, caching: true)
            let created = try await actor.create(AgentConfig(name: "Unlucky", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)
            let patched = try await actor.patch(created.id, with: .object(["description": .string("at last")]), ifMatch: nil, audit: .test)
            #expect(patched.version == 2)
            #expect(try await actor.agent(created.id).version == 2)
            await #expect(throws: ServiceError.preconditionFailed(current: 2)) {
                try await actor.patch(created.id, with: .object(["description": .string("stale")]), ifMatch: 1, audit: .test)
            }
            let versions = try await actor.versions(of: created.id, limit: 10, before: nil)
            #expect(versions.items.map(\.version) == [2, 1])
        }
    }
}
