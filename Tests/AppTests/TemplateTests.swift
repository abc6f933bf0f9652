import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

@Suite struct TemplateTests {
    static let systemIDs = ["creative-writer", "customer-support", "data-analyst", "knowledge-base", "programming-assistant"]

    @Test func systemTemplatesAreListedAndReadOnly() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let list = try await admin.send(.get, "/v1/templates").json()
            let items = try list["items"]!.items()
            #expect(items.compactMap { $0["id"]?.stringValue } == Self.systemIDs)
            #expect(items.allSatisfy { $0["system"] == .bool(true) && $0["version"] == .int(1) && $0["usage_count"] == .int(0) })
            #expect(list["next_cursor"] == .null)

            var seen: [String] = []
            var cursor = ""
            repeat {
                let page = try await admin.send(.get, "/v1/templates?limit=2&cursor=\(cursor)").json()
                seen += try page["items"]!.items().compactMap { $0["id"]?.stringValue }
                cursor = page["next_cursor"]?.stringValue ?? ""
            } while !cursor.isEmpty
            #expect(seen == Self.systemIDs)

            let support = try await admin.send(.get, "/v1/templates/customer-support").json()
            #expect(support["type"] == .string("rag") && support["category"] == .string("support"))
            #expect(try await admin.send(.get, "/v1/templates?category=support&type=rag").json()["items"]?.items().count == 1)
            #expect(try await admin.send(.get, "/v1/templates?type=robot").errorCode == "AMS-109")
            #expect(try await admin.send(.patch, "/v1/templates/customer-support", json: #"{"name":"Mine"}"#).errorCode == "AMS-204")
            #expect(try await admin.send(.delete, "/v1/templates/customer-support").errorCode == "AMS-204")
            #expect(try await admin.send(.get, "/v1/templates/nope").errorCode == "AMS-303")
            #expect(try await admin.send(.get, "/v1/templates/\(UUID().uuidString)").errorCode == "AMS-303")
        }
    }

    @Test func tenantTemplatesAreValidatedVersionedAndPrivate() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            let body =
                #"{"name":"Triage","category":"support","type":"conversational","config":{"system_prompt":"Sort tickets.","llm_config":{"model":"gpt-4o-mini","temperature":0.5},"tools":["search"]}}"#
            let created = try await editor.send(.post, "/v1/templates", json: body)
            #expect(created.status == .created)
            let template = try created.json()
            #expect(created.headers[.location] == "/v1/templates/\(template.id)")
            #expect(template["system"] == .bool(false) && template["version"] == .int(1))
            #expect(try await editor.send(.post, "/v1/templates", json: body).errorCode == "AMS-102")

            let invalid = try await editor.send(
                .post,
                "/v1/templates",
                json: #"{"name":"Hot","category":"x","config":{"llm_config":{"model":"gpt-4o-mini","temperature":7}}}"#
            )
            #expect(invalid.errorCode == "AMS-100")
            let paths = try invalid.json()["error"]?["details"]?["issues"]?.items().compactMap { $0["path"]?.stringValue }
            #expect(paths == ["/config/llm_config/temperature"])
            #expect(
                try await editor.send(.post, "/v1/templates", json: #"{"name":"X","category":"x","config":{"name":"no"}}"#).errorCode == "AMS-109"
            )
            #expect(
                try await editor.send(.post, "/v1/templates", json: #"{"name":"","category":"","config":{"llm_config":{"model":"gpt-4o-mini"}}}"#)
                    .errorCode == "AMS-100"
            )

            let patched = try await editor.send(.patch, "/v1/templates/\(template.id)", json: #"{"config":{"llm_config":{"temperature":0.2}}}"#)
            #expect(patched.status == .ok)
            #expect(try patched.json()["version"] == .int(2) && patched.json()["config"]?["llm_config"]?["model"] == .string("gpt-4o-mini"))
            // A field templates do not have is refused, also when the patch sets it to null.
            for body in [#"{"colour":null}"#, #"{"config":{"colour":null}}"#, #"{"config":{"llm_config":{"temprature":null}}}"#] {
                let unknown = try await editor.send(.patch, "/v1/templates/\(template.id)", json: body)
                #expect(unknown.status == .badRequest && unknown.errorCode == "AMS-109", "\(body)")
            }
            #expect(try await editor.send(.get, "/v1/templates/\(template.id)").json()["version"] == .int(2), "nothing was written")
            let listed = try await editor.send(.get, "/v1/templates").json()["items"]!.items()
            #expect(listed.last?["id"] == template["id"], "the tenant's own come after the system templates")
            let stranger = try await Caller.make(client, tenant: TestSupport.tenant())
            #expect(try await stranger.send(.get, "/v1/templates/\(template.id)").errorCode == "AMS-303")
            #expect(try await editor.send(.delete, "/v1/templates/\(template.id)").errorCode == "AMS-204", "deleting takes admin")
            let admin = try await Caller.make(client, tenant: tenant)
            #expect(try await admin.send(.delete, "/v1/templates/\(template.id)").status == .noContent)
            #expect(try await admin.send(.get, "/v1/templates/\(template.id)").errorCode == "AMS-303")
        }
    }

    @Test func agentsCreatedFromTemplatesMergeTheBodyOverTheTemplate() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            let response = try await editor.send(
                .post,
                "/v1/agents",
                json: """
                    {"template_id":"customer-support","template_version":1,"name":"Helpdesk","llm_config":{"max_tokens":300},"tools":["search"],"tags":["eu"]}
                    """
            )
            #expect(response.status == .created)
            let agent = try response.json()
            #expect(agent["type"] == .string("rag"))
            #expect(agent["llm_config"]?["model"] == .string("gpt-4o-mini") && agent["llm_config"]?["temperature"] == .double(0.3))
            #expect(agent["llm_config"]?["max_tokens"] == .int(300), "objects merge key by key")
            #expect(agent["tools"] == .array([.object(["id": .string("search"), "config": .object([:])])]), "arrays replace")
            #expect(agent["tags"] == .array([.string("eu")]))
            #expect(agent["collections"] == .array([.string("help-center")]))
            #expect(agent["template_id"] == .string("customer-support") && agent["template_version"] == .int(1))
            #expect(try await editor.send(.get, "/v1/templates/customer-support").json()["usage_count"] == .int(1))

            #expect(
                try await editor.send(.post, "/v1/agents", json: #"{"template_id":"customer-support","template_version":2,"name":"X"}"#).errorCode
                    == "AMS-303"
            )
            #expect(try await editor.send(.post, "/v1/agents", json: #"{"template_id":"nope","name":"X"}"#).errorCode == "AMS-303")
            #expect(try await editor.send(.post, "/v1/agents", json: #"{"template_version":1,"name":"X"}"#).errorCode == "AMS-109")

            let free = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor])
            let refused = try await free.send(.post, "/v1/agents", json: #"{"template_id":"data-analyst","name":"Numbers"}"#)
            #expect(refused.errorCode == "AMS-100", "the free tier allows neither the prompt nor the model")

            let made = try await editor.send(.post, "/v1/agents/\(agent.id)/template", json: #"{"name":"Helpdesk template","category":"support"}"#)
            #expect(made.status == .created)
            let copy = try made.json()
            #expect(copy["type"] == .string("rag") && copy["config"]?["llm_config"] == agent["llm_config"])
            #expect(copy["config"]?["system_prompt"] == agent["system_prompt"] && copy["config"]?["tools"] == agent["tools"])
            let again = try await editor.send(.post, "/v1/agents", json: #"{"template_id":"\#(copy.id)","name":"Helpdesk 2"}"#).json()
            #expect(
                VersionTests.configuration(again).objectValue?.filter { $0.key != "name" && !$0.key.hasPrefix("template") }.count
                    == VersionTests.configuration(agent).objectValue?.filter { $0.key != "name" && !$0.key.hasPrefix("template") }.count
            )
            #expect(again["system_prompt"] == agent["system_prompt"] && again["template_id"] == copy["id"])
        }
    }
}

extension TemplateTests {
    @Test func aTemplateFieldErrorPointsIntoConfig() async throws {
        try await TestSupport.app().test(.router) { client in
            let editor = try await Caller.make(client, tenant: TestSupport.tenant(), roles: [.editor])
            let typo = try await editor.send(
                .post,
                "/v1/templates",
                json: #"{"name":"T","category":"c","config":{"llm_config":{"model":"m","temprature":1}}}"#
            )
            #expect(typo.errorCode == "AMS-109")
            #expect(try typo.json()["error"]?["details"]?["field"] == .string("/config/llm_config/temprature"))
        }
    }
}
