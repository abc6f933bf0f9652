import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

@Suite struct AgentCRUDTests {
    @Test func createReturnsTheAgentWithLocationAndETag() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant, subject: "alice")
            let response = try await admin.send(
                .post,
                "/v1/agents",
                json: """
                    {"name":"Support","description":"helps","type":"rag","llm_config":{"model":"gpt-4o-mini","temperature":1.8},
                     "tools":["search",{"id":"calculator","config":{"precision":2}}],"collections":["kb"],"tags":["support"],
                     "metadata":{"team":"cx"}}
                    """
            )
            #expect(response.status == .created)
            let agent = try response.json()
            #expect(response.headers[.location] == "/v1/agents/\(agent.id)")
            #expect(response.headers[.eTag] == "\"1\"")
            #expect(agent["tenant_id"] == .string(tenant))
            #expect(agent["version"] == .int(1))
            #expect(agent["status"] == .string("draft"))
            #expect(agent["created_by"] == .string("alice") && agent["updated_by"] == .string("alice"))
            #expect(
                agent["tools"]
                    == .array([
                        .object(["id": .string("search"), "config": .object([:])]),
                        .object(["id": .string("calculator"), "config": .object(["precision": .int(2)])]),
                    ])
            )
            #expect(agent["memory_config"]?["memory_type"] == .string("conversation"))
            #expect(agent["validation"]?["status"] == .string("warnings"))
            #expect(agent["created_at"]?.stringValue?.hasSuffix("Z") == true)
            #expect(UUID(uuidString: agent.id) != nil)

            let fetched = try await admin.send(.get, "/v1/agents/\(agent.id)")
            #expect(fetched.status == .ok)
            #expect(try fetched.json() == agent)
            #expect(fetched.headers[.eTag] == "\"1\"")
        }
    }

    @Test func malformedBodiesAreRefusedAndNothingIsWritten() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let typo = try await admin.send(.post, "/v1/agents", json: #"{"name":"A","llm_config":{"model":"gpt-4o-mini","temprature":1}}"#)
            #expect(typo.status == .badRequest)
            #expect(typo.errorCode == "AMS-109")
            #expect(try typo.json()["error"]?["details"]?["field"] == .string("/llm_config/temprature"))

            #expect(try await admin.send(.post, "/v1/agents", json: "{not json").errorCode == "AMS-109")
            #expect(try await admin.send(.post, "/v1/agents", json: "[1]").errorCode == "AMS-109")
            #expect(try await admin.send(.post, "/v1/agents", json: #"{"name":5}"#).errorCode == "AMS-109")

            let text = try await admin.send(.post, "/v1/agents", json: "{}", headers: [.contentType: "text/plain"])
            #expect(text.status == .unsupportedMediaType && text.errorCode == "AMS-111")

            let huge = #"{"name":"A","description":""# + String(repeating: "x", count: 1_100_000) + #""}"#
            let large = try await admin.send(.post, "/v1/agents", json: huge)
            #expect(large.status == .contentTooLarge && large.errorCode == "AMS-110", "\(large.status) \(String(buffer: large.body))")

            let list = try await admin.send(.get, "/v1/agents")
            #expect(try list.json()["items"] == .array([]))
        }
    }

    @Test func validationFailureListsEveryIssue() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let response = try await admin.send(
                .post,
                "/v1/agents",
                json: """
                    {"name":"","type":"workflow","system_prompt":"custom","llm_config":{"model":"gpt-4o","temperature":3,"max_tokens":5000},
                     "tools":["search","calculator","nope"]}
                    """
            )
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "AMS-100")
            let issues = try #require(try response.json()["error"]?["details"]?["issues"]).items()
            let paths = Set(issues.compactMap { $0["path"]?.stringValue })
            #expect(
                paths == [
                    "/name", "/type", "/system_prompt", "/llm_config/model", "/llm_config/temperature",
                    "/llm_config/max_tokens", "/tools", "/tools/2/id",
                ]
            )
            #expect(issues.allSatisfy { $0["code"]?.stringValue?.hasPrefix("AMS-1") == true && $0["message"] != nil })
        }
    }

    @Test func duplicateNamesConflictOnlyAmongLiveAgents() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let first = try await admin.create("Same")
            let again = try await admin.send(.post, "/v1/agents", json: #"{"name":"Same","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(again.status == .conflict && again.errorCode == "AMS-102")
            #expect(try await admin.send(.delete, "/v1/agents/\(first.id)").status == .noContent)
            #expect(try await admin.send(.post, "/v1/agents", json: #"{"name":"Same","llm_config":{"model":"gpt-4o-mini"}}"#).status == .created)
        }
    }

    @Test func freeTierQuotaRefusesTheThirdAgentUntilOneIsDeleted() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let first = try await admin.create("One")
            _ = try await admin.create("Two")
            let third = try await admin.send(.post, "/v1/agents", json: #"{"name":"Three","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(third.status == .forbidden && third.errorCode == "AMS-207")
            #expect(try third.json()["error"]?["details"]?["max_agents"] == .int(2))
            #expect(try await admin.send(.delete, "/v1/agents/\(first.id)").status == .noContent)
            _ = try await admin.create("Three")
        }
    }

    @Test func concurrentCreatesNeverExceedTheQuota() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<6 {
                    group.addTask {
                        try await admin.send(.post, "/v1/agents", json: #"{"name":"A\#(i)","llm_config":{"model":"gpt-4o-mini"}}"#).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 2)
            #expect(statuses.filter { $0 == .forbidden }.count == 4)
        }
    }

    /// The counter behind the quota moves only with what is really stored: a create refused for
    /// its name rolls its increment back, and a delete gives the slot back.
    @Test func aRefusedCreateTakesNoQuotaSlot() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let one = try await admin.create("One")
            let clash = try await admin.send(.post, "/v1/agents", json: #"{"name":"One","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(clash.status == .conflict && clash.errorCode == "AMS-102")
            #expect(try await admin.send(.get, "/v1/tenant").json()["usage"] == .object(["agents": .int(1)]))
            _ = try await admin.create("Two")
            #expect(try await admin.send(.delete, "/v1/agents/\(one.id)").status == .noContent)
            #expect(try await admin.send(.get, "/v1/tenant").json()["usage"] == .object(["agents": .int(1)]))
            _ = try await admin.create("Three")
            #expect(try await admin.send(.post, "/v1/agents", json: #"{"name":"Four","llm_config":{"model":"gpt-4o-mini"}}"#).errorCode == "AMS-207")
        }
    }

    @Test func getHonoursIfNoneMatchAndHidesMissingOrMalformedIds() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Cached")
            let notModified = try await admin.send(.get, "/v1/agents/\(agent.id)", headers: [.ifNoneMatch: "\"1\""])
            #expect(notModified.status == .notModified)
            #expect(notModified.headers[.eTag] == "\"1\"")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)", headers: [.ifNoneMatch: "\"7\""]).status == .ok)
            let missing = try await admin.send(.get, "/v1/agents/\(UUID().uuidString)")
            #expect(missing.status == .notFound && missing.errorCode == "AMS-301")
            let malformed = try await admin.send(.get, "/v1/agents/not-a-uuid")
            #expect(malformed.status == .notFound && malformed.errorCode == "AMS-301")
        }
    }

    @Test func patchMergesBumpsVersionAndKeepsItWhenNothingChanges() async throws {
        try await TestSupport.app().test(.router) { client in
            let editor = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor], subject: "ed")
            let agent = try await editor.create("Patchy", #""description":"old","metadata":{"a":1,"b":2}"#)
            let patched = try await editor.send(
                .patch,
                "/v1/agents/\(agent.id)",
                json: #"{"description":null,"llm_config":{"temperature":0.2},"metadata":{"a":null,"c":3}}"#
            )
            #expect(patched.status == .ok)
            #expect(patched.headers[.eTag] == "\"2\"")
            let v2 = try patched.json()
            #expect(v2["version"] == .int(2))
            #expect(v2["description"] == .null)
            #expect(v2["llm_config"] == .object(["model": .string("gpt-4o-mini"), "temperature": .double(0.2)]))
            #expect(v2["metadata"] == .object(["b": .int(2), "c": .int(3)]))
            #expect(v2["updated_by"] == .string("ed"))

            let same = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"llm_config":{"temperature":0.2}}"#)
            #expect(same.status == .ok)
            #expect(try same.json()["version"] == .int(2))
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)").json() == v2)
        }
    }

    @Test func patchErrorsLeaveTheAgentUntouched() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            let agent = try await editor.create("Stable")
            let other = try await editor.create("Other")
            let invalid = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"llm_config":{"temperature":9},"name":""}"#)
            #expect(invalid.status == .badRequest && invalid.errorCode == "AMS-100")
            let unknown = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"nmae":"x"}"#)
            #expect(unknown.errorCode == "AMS-109")
            for body in [#"{"nmae":null}"#, #"{"llm_config":{"temprature":null}}"#] {
                let dropped = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: body)
                #expect(dropped.status == .badRequest && dropped.errorCode == "AMS-109", "an unknown field set to null is refused too: \(body)")
            }
            let notObject = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #""x""#)
            #expect(notObject.errorCode == "AMS-109")
            let rename = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"name":"Other"}"#)
            #expect(rename.status == .conflict && rename.errorCode == "AMS-102")
            let status = try await editor.send(.patch, "/v1/agents/\(agent.id)", json: #"{"status":"archived"}"#)
            #expect(status.status == .badRequest && status.errorCode == "AMS-109", "the status moves through POST …/status only")
            let activate = try await editor.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#)
            #expect(activate.status == .forbidden && activate.errorCode == "AMS-204")
            let missing = try await editor.send(.patch, "/v1/agents/\(UUID().uuidString)", json: #"{"name":"x"}"#)
            #expect(missing.errorCode == "AMS-301")
            #expect(try await editor.send(.get, "/v1/agents/\(agent.id)").json() == agent)
            #expect(try await editor.send(.get, "/v1/agents/\(other.id)").json() == other)

            let admin = try await Caller.make(client, tenant: tenant, roles: [.admin])
            let activated = try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#)
            #expect(try activated.json()["status"] == .string("active"))
            #expect(try activated.json()["version"] == agent["version"], "a status change makes no version")
        }
    }

    @Test func deleteNeedsAdminAndIsFinal() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            let agent = try await editor.create("Doomed")
            #expect(try await editor.send(.delete, "/v1/agents/\(agent.id)").errorCode == "AMS-204")
            let admin = try await Caller.make(client, tenant: tenant)
            #expect(try await admin.send(.delete, "/v1/agents/\(agent.id)").status == .noContent)
            let second = try await admin.send(.delete, "/v1/agents/\(agent.id)")
            #expect(second.status == .notFound && second.errorCode == "AMS-301")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").status == .notFound)
        }
    }

    @Test func listPagesNewestFirstAndFilters() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let service = try await Caller(
                client: client,
                token: TestSupport.token(tenant: nil, roles: [.service]),
                extraHeaders: [.tenantID: tenant]
            )
            try await client.execute(
                uri: "/internal/v1/tenants/\(tenant)",
                method: .put,
                headers: [.authorization: "Bearer \(service.token!)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"tier":"enterprise"}"#)
            )
            var ids: [String] = []
            for i in 0..<5 {
                let extra = i % 2 == 0 ? #""tags":["even"],"type":"rag","collections":["kb"]"# : #""description":"Odd One""#
                ids.append(try await service.create("Agent \(i)", extra).id)
            }
            let page1 = try await service.send(.get, "/v1/agents?limit=2").json()
            let items1 = try #require(page1["items"]).items()
            let cursor = try #require(page1["next_cursor"]?.stringValue)
            #expect(items1.map(\.id) == [ids[4], ids[3]])
            _ = try await service.create("Late arrival")
            let page2 = try await service.send(.get, "/v1/agents?limit=2&cursor=\(cursor)").json()
            let items2 = try #require(page2["items"]).items()
            let cursor2 = try #require(page2["next_cursor"]?.stringValue)
            #expect(items2.map(\.id) == [ids[2], ids[1]])
            let page3 = try await service.send(.get, "/v1/agents?limit=2&cursor=\(cursor2)").json()
            #expect(page3["items"].map { if case .array(let a) = $0 { a.map(\.id) } else { [] } } == [ids[0]])
            #expect(page3["next_cursor"] == .null)

            func found(_ query: String) async throws -> [String] {
                try #require(try await service.send(.get, "/v1/agents?\(query)").json()["items"]).items().map(\.id)
            }
            #expect(try await found("tag=even") == [ids[4], ids[2], ids[0]])
            #expect(try await found("type=rag&tag=even&limit=1") == [ids[4]])
            #expect(try await found("q=odd%20one") == [ids[3], ids[1]])
            #expect(try await found("q=agent%204") == [ids[4]])
            #expect(try await found("status=active").isEmpty)
            #expect(try await found("q=%25").isEmpty)

            #expect(try await service.send(.get, "/v1/agents?limit=0").errorCode == "AMS-109")
            #expect(try await service.send(.get, "/v1/agents?limit=201").errorCode == "AMS-109")
            #expect(try await service.send(.get, "/v1/agents?cursor=bogus").errorCode == "AMS-109")
            // An unknown filter value is a mistake, not an empty page.
            #expect(try await service.send(.get, "/v1/agents?status=enabled").errorCode == "AMS-109")
            #expect(try await service.send(.get, "/v1/agents?type=robot").errorCode == "AMS-109")
            #expect(try await service.send(.get, "/v1/agents?q=a%00b").errorCode == "AMS-109")
            #expect(try await service.send(.get, "/v1/agents?tag=%00").errorCode == "AMS-109")
        }
    }

    @Test func aNameOfOnlyWhitespaceIsRefusedAndNothingIsWritten() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let blank = try await admin.send(.post, "/v1/agents", json: #"{"name":" \t\n ","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(blank.status == .badRequest && blank.errorCode == "AMS-100")
            let issues = try #require(try blank.json()["error"]?["details"]?["issues"]).items()
            #expect(issues.contains { $0["path"] == .string("/name") && $0["code"] == .string("AMS-101") })
            #expect(try await admin.send(.get, "/v1/agents").json()["items"] == .array([]))
            #expect(try await admin.send(.get, "/v1/tenant").json()["usage"] == .object(["agents": .int(0)]))
        }
    }
}
