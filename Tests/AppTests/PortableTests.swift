import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

@Suite struct PortableTests {
    @Test func exportThenImportGivesTheSameConfiguration() async throws {
        try await TestSupport.app().test(.router) { client in
            let source = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            let agent = try await source.create(
                "Porter",
                #""system_prompt":"Carry.","llm_config":{"model":"gpt-4o","temperature":0.4},"tools":[{"id":"http_request","config":{"url":"https://x"}}],"tags":["a"],"metadata":{"k":[1,2]}"#
            )
            _ = try await source.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"second"}"#)

            let file = try await source.send(.get, "/v1/agents/\(agent.id)/export?versions=all").json()
            #expect(file["format"] == .string(AgentFile.format))
            #expect(try file["versions"]!.items().map { $0["version"]?.int } == [1, 2])
            #expect(file["agent"]?["id"] == nil, "a file carries no id")

            let target = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            let imported = try await target.send(.post, "/v1/agents/import", json: String(decoding: file.encoded, as: UTF8.self))
            #expect(imported.status == .created)
            let copy = try imported.json()
            #expect(copy.id != agent.id && copy["version"] == .int(1))
            let original = try await source.send(.get, "/v1/agents/\(agent.id)").json()
            #expect(VersionTests.configuration(copy) == VersionTests.configuration(original))

            let yaml = try await source.send(.get, "/v1/agents/\(agent.id)/export", headers: [.accept: "application/yaml"])
            #expect(yaml.headers[.contentType]?.hasPrefix("application/yaml") == true)
            let text = String(buffer: yaml.body)
            #expect(text.contains("format: agent-management/agent@1"))
            let third = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            let fromYAML = try await third.send(.post, "/v1/agents/import", json: nil, headers: [.contentType: "application/yaml"], body: text)
            #expect(fromYAML.status == .created)
            #expect(try VersionTests.configuration(fromYAML.json()) == VersionTests.configuration(original))

            #expect(try await target.send(.post, "/v1/agents/import", json: #"{"format":"other","agent":{}}"#).errorCode == "AMS-109")
            let typo = try await target.send(.post, "/v1/agents/import", json: #"{"format":"agent-management/agent@1","agent":{"nmae":"x"}}"#)
            #expect(try typo.errorCode == "AMS-109" && typo.json()["error"]?["details"]?["field"] == .string("/agent/nmae"))
            #expect(try await target.send(.get, "/v1/agents/\(agent.id)/export").errorCode == "AMS-301")
        }
    }

    @Test func applyMakesTheTenantMatchAndIsIdempotent() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            let kept = try await admin.create("Kept")
            let extra = try await admin.create("Extra")
            let body = """
                {"agents":[
                  {"name":"Kept","llm_config":{"model":"gpt-4o-mini"}},
                  {"name":"Fresh","llm_config":{"model":"gpt-4o-mini"},"tags":["new"]},
                  {"format":"agent-management/agent@1","agent":{"name":"Changed","llm_config":{"model":"gpt-4o-mini","temperature":0.5}}}
                ]}
                """
            let changed = try await admin.create("Changed")

            let plan = try await admin.send(.post, "/v1/agents/apply?dry_run=1&prune=1", json: body).json()
            #expect(plan["dry_run"] == .bool(true))
            let actions = try plan["items"]!.items().map { "\($0["name"]!.stringValue!):\($0["action"]!.stringValue!)" }
            #expect(actions == ["Kept:unchanged", "Fresh:create", "Changed:update", "Extra:delete"])
            #expect(
                try plan["items"]!.items()[2]["changes"]
                    == .array([
                        .object(["op": .string("add"), "path": .string("/llm_config/temperature"), "value": .double(0.5)])
                    ])
            )
            #expect(try await admin.send(.get, "/v1/agents").json()["items"]?.items().count == 3, "a dry run writes nothing")

            let applied = try await admin.send(.post, "/v1/agents/apply?prune=1", json: body)
            #expect(applied.status == .ok)
            #expect(try applied.json()["dry_run"] == .bool(false))
            #expect(try await admin.send(.get, "/v1/agents/\(extra.id)").errorCode == "AMS-301")
            #expect(try await admin.send(.get, "/v1/agents/\(changed.id)").json()["version"] == .int(2))
            #expect(try await admin.send(.get, "/v1/agents/\(kept.id)").json()["version"] == .int(1))

            let again = try await admin.send(.post, "/v1/agents/apply?prune=1", json: body).json()
            #expect(try again["items"]!.items().allSatisfy { $0["action"] == .string("unchanged") }, "applying twice changes nothing")
            let editor = try await Caller.make(client, tenant: admin.tenantOfToken(), roles: [.editor])
            #expect(try await editor.send(.post, "/v1/agents/apply?prune=1", json: body).errorCode == "AMS-204", "pruning deletes: admin")
        }
    }

    @Test func oneBadItemOrAFullQuotaWritesNothing() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let invalid = try await admin.send(
                .post,
                "/v1/agents/apply",
                json: """
                    {"agents":[{"name":"Fine","llm_config":{"model":"gpt-4o-mini"}},{"name":"Hot","llm_config":{"model":"gpt-4o-mini","temperature":9}}]}
                    """
            )
            #expect(invalid.errorCode == "AMS-100")
            #expect(try invalid.json()["error"]?["details"]?["issues"]?.items().first?["path"] == .string("/agents/1/llm_config/temperature"))
            #expect(try await admin.send(.get, "/v1/agents").json()["items"]?.items().isEmpty == true)
            let twice = try await admin.send(
                .post,
                "/v1/agents/apply",
                json: #"{"agents":[{"name":"A","llm_config":{"model":"gpt-4o-mini"}},{"name":"A","llm_config":{"model":"gpt-4o-mini"}}]}"#
            )
            #expect(twice.errorCode == "AMS-109")

            let limit = try await admin.send(.get, "/v1/tenant").json()["limits"]?["max_agents"]?.int ?? 0
            let many = (0...limit).map { #"{"name":"N\#($0)","llm_config":{"model":"gpt-4o-mini"}}"# }.joined(separator: ",")
            let full = try await admin.send(.post, "/v1/agents/apply", json: #"{"agents":[\#(many)]}"#)
            #expect(full.errorCode == "AMS-207")
            #expect(try await admin.send(.get, "/v1/agents").json()["items"]?.items().isEmpty == true, "nothing of a refused apply is written")
        }
    }
}

extension Caller {
    /// The tenant this caller's token acts on, read back from the service.
    func tenantOfToken() async throws -> String? {
        try await send(.get, "/v1/tenant").json()["tenant_id"]?.stringValue
    }

    func send(_ method: HTTPRequest.Method, _ uri: String, json: String?, headers: HTTPFields, body: String) async throws -> TestResponse {
        var all = extraHeaders
        if let token { all[.authorization] = "Bearer \(token)" }
        for field in headers { all[field.name] = field.value }
        return try await client.execute(uri: uri, method: method, headers: all, body: ByteBuffer(string: body))
    }
}

extension PortableTests {
    @Test func yamlBodiesAreReadAsStrictlyAsJSON() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let yaml: HTTPFields = [.contentType: "application/yaml"]
            let nul = try await admin.send(
                .post,
                "/v1/agents/import",
                json: nil,
                headers: yaml,
                body: "name: \"a\\0b\"\nllm_config: {model: gpt-4o-mini}\n"
            )
            #expect(nul.status == .badRequest && nul.errorCode == "AMS-109")
            #expect(try await admin.send(.post, "/v1/agents/import", json: nil, headers: yaml, body: "name: [\n").errorCode == "AMS-109")
            #expect(
                try await admin.send(
                    .post,
                    "/v1/agents/apply",
                    json: nil,
                    headers: yaml,
                    body: "agents:\n  - {name: Y, llm_config: {model: gpt-4o-mini}}\n"
                ).status == .ok
            )
            #expect(
                try await admin.send(.post, "/v1/agents/import", json: nil, headers: [.contentType: "text/plain"], body: "x").errorCode == "AMS-111"
            )
        }
    }
}

extension PortableTests {
    @Test func hostileYAMLAndOddAcceptHeadersAreAnsweredCalmly() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Calm")
            for accept in [";", "text/html,;", ";;,application/yaml", ""] {
                let r = try await admin.send(.get, "/v1/agents/\(agent.id)/export", headers: [.accept: accept])
                #expect(r.status == .ok, "Accept: \(accept)")
            }
            let laughs =
                "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nname: *c\n"
            let yaml: HTTPFields = [.contentType: "application/yaml"]
            #expect(
                try await admin.send(.post, "/v1/agents/import", json: nil, headers: yaml, body: laughs).errorCode == "AMS-109",
                "aliases are refused"
            )
            let nan = "name: N\nllm_config: {model: gpt-4o-mini, temperature: .nan}\n"
            #expect(try await admin.send(.post, "/v1/agents/import", json: nil, headers: yaml, body: nan).errorCode == "AMS-109")
        }
    }
}
