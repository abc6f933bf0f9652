import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

/// What platform services read through `/internal/v1`, and the aliases they read it by.
@Suite struct PlatformReadTests {
    @Test func theConfigOfAnActiveAgentIsServedWithItsETag() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let service = Caller(client: client, token: try await TestSupport.token(tenant: nil, roles: [.service]))
            let agent = try await admin.create("Runner", #""system_prompt":"Help.","tools":["search"],"collections":["kb"]"#)
            let path = "/internal/v1/tenants/\(tenant)/agents/\(agent.id)/config"

            let draft = try await service.send(.get, path)
            #expect(draft.status == .conflict && draft.errorCode == "AMS-304")
            #expect(try draft.json()["error"]?["details"]?["status"] == .string("draft"))
            let unavailable = try await service.send(.get, "/internal/v1/tenants/\(tenant)/agents/\(agent.id)/availability").json()
            #expect(unavailable["available"] == .bool(false) && unavailable["status"] == .string("draft") && unavailable["reason"] != nil)

            #expect(try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#).status == .ok)
            let active = try await service.send(.get, path)
            #expect(active.status == .ok && active.headers[.eTag] == "\"1\"")
            let config = try active.json()
            #expect(
                config
                    == .object([
                        "agent_id": agent["id"]!, "tenant_id": .string(tenant), "version": .int(1), "type": .string("conversational"),
                        "system_prompt": .string("Help."), "llm_config": agent["llm_config"]!, "memory_config": agent["memory_config"]!,
                        "tools": agent["tools"]!, "collections": .array([.string("kb")]),
                    ])
            )
            let available = try await service.send(.get, "/internal/v1/tenants/\(tenant)/agents/\(agent.id)/availability").json()
            #expect(available == .object(["available": .bool(true), "status": .string("active"), "version": .int(1)]))
            #expect(try await service.send(.get, path, headers: [.ifNoneMatch: "\"1\""]).status == .notModified)

            // A change is seen at once by this replica's cache.
            _ = try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"system_prompt":"Help more."}"#)
            let changed = try await service.send(.get, path)
            #expect(try changed.headers[.eTag] == "\"2\"" && changed.json()["system_prompt"] == .string("Help more."))
            #expect(try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"inactive"}"#).status == .ok)
            #expect(try await service.send(.get, path).errorCode == "AMS-304")

            let user = try await Caller.make(client, tenant: tenant)
            #expect(try await user.send(.get, path).errorCode == "AMS-204", "internal endpoints refuse user tokens")
            #expect(try await user.send(.post, "/internal/v1/agents/batch", json: #"{"tenant_id":"\#(tenant)","ids":[]}"#).errorCode == "AMS-204")
            #expect(try await service.send(.get, "/internal/v1/tenants/\(tenant)/agents/\(UUID().uuidString)/config").errorCode == "AMS-301")
            #expect(try await service.send(.get, "/internal/v1/tenants/\(TestSupport.tenant())/agents/\(agent.id)/config").errorCode == "AMS-301")
        }
    }

    @Test func aliasesPointAtVersionsAndAreRecorded() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let admin = try await Caller.make(client, tenant: tenant, subject: "boss")
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor], subject: "ed")
            let service = Caller(client: client, token: try await TestSupport.token(tenant: nil, roles: [.service]))
            let agent = try await admin.create("Promoted", #""system_prompt":"v1""#)
            _ = try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"system_prompt":"v2"}"#)
            _ = try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#)
            let aliases = "/v1/agents/\(agent.id)/aliases"

            #expect(try await editor.send(.put, aliases + "/production", json: #"{"version":1}"#).errorCode == "AMS-204")
            let staging = try await editor.send(.put, aliases + "/staging", json: #"{"version":2}"#)
            #expect(try staging.status == .ok && staging.json()["version"] == .int(2))
            let production = try await admin.send(.put, aliases + "/production", json: #"{"version":1}"#)
            #expect(try production.json()["updated_by"] == .string("boss"))
            #expect(try await admin.send(.put, aliases + "/production", json: #"{"version":9}"#).errorCode == "AMS-302")
            #expect(try await admin.send(.put, aliases + "/Prod", json: #"{"version":1}"#).errorCode == "AMS-109")
            #expect(try await admin.send(.put, aliases + "/qa", json: #"{"version":0}"#).errorCode == "AMS-109")
            #expect(try await admin.send(.put, "/v1/agents/\(UUID().uuidString)/aliases/qa", json: #"{"version":1}"#).errorCode == "AMS-301")

            let list = try await editor.send(.get, aliases).json()
            #expect(try list["items"]!.items().map { $0["name"]?.stringValue } == ["production", "staging"])

            let config = "/internal/v1/tenants/\(tenant)/agents/\(agent.id)/config"
            let prod = try await service.send(.get, config + "?alias=production")
            #expect(try prod.headers[.eTag] == "\"1\"" && prod.json()["system_prompt"] == .string("v1") && prod.json()["version"] == .int(1))
            #expect(try await service.send(.get, config + "?alias=staging").json()["system_prompt"] == .string("v2"))
            #expect(try await service.send(.get, config).json()["version"] == .int(2), "no alias: the current version")
            #expect(try await service.send(.get, config + "?alias=canary").errorCode == "AMS-309")

            #expect(try await editor.send(.delete, aliases + "/staging").status == .noContent)
            #expect(try await editor.send(.delete, aliases + "/staging").errorCode == "AMS-309")
            #expect(try await editor.send(.delete, aliases + "/production").errorCode == "AMS-204")
            let history = try await admin.send(.get, "/v1/agents/\(agent.id)/history").json()["items"]!.items()
            let moves = history.filter { $0["action"] == .string("alias_moved") }
            #expect(
                moves.map { $0["details"] } == [
                    .object(["alias": .string("staging"), "from": .int(2), "to": .null]),
                    .object(["alias": .string("production"), "from": .null, "to": .int(1)]),
                    .object(["alias": .string("staging"), "from": .null, "to": .int(2)]),
                ]
            )
        }
    }

    @Test func batchesAnswerFoundAndMissingInRequestOrder() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let service = Caller(client: client, token: try await TestSupport.token(tenant: nil, roles: [.service]))
            let a = try await admin.create("A")
            let b = try await admin.create("B")
            let gone = try await admin.create("Gone")
            _ = try await admin.send(.get, "/v1/agents/\(a.id)")  // one cached, one not
            #expect(try await admin.send(.delete, "/v1/agents/\(gone.id)").status == .noContent)
            let unknown = UUID().uuidString.lowercased()
            let response = try await service.send(
                .post,
                "/internal/v1/agents/batch",
                json: """
                    {"tenant_id":"\(tenant)","ids":["\(b.id)","\(a.id)","\(unknown)","\(gone.id)","nope","\(b.id)"]}
                    """
            )
            #expect(response.status == .ok)
            let body = try response.json()
            #expect(try body["items"]!.items() == [b, a])
            #expect(body["missing"] == .array([.string(unknown), .string(gone.id), .string("nope")]))

            let elsewhere = try await service.send(
                .post,
                "/internal/v1/agents/batch",
                json: #"{"tenant_id":"\#(TestSupport.tenant())","ids":["\#(a.id)"]}"#
            )
            #expect(try elsewhere.json()["items"] == .array([]), "another tenant sees nothing")
            let many = (0...100).map { _ in "\"\(UUID().uuidString)\"" }.joined(separator: ",")
            #expect(try await service.send(.post, "/internal/v1/agents/batch", json: #"{"tenant_id":"t","ids":[\#(many)]}"#).errorCode == "AMS-109")
            #expect(try await service.send(.post, "/internal/v1/agents/batch", json: #"{"tenant_id":"a b","ids":[]}"#).errorCode == "AMS-109")
            #expect(try await service.send(.post, "/internal/v1/agents/batch", json: #"{"tenant_id":"t"}"#).errorCode == "AMS-109")
        }
    }
}

extension PlatformReadTests {
    /// Another replica's status change and delete reach this replica's config cache by notice.
    @Test func configsFollowChangesMadeElsewhere() async throws {
        try await TestSupport.app().test(.router) { one in
            try await TestSupport.app().test(.router) { two in
                let tenant = try await TestSupport.tenant(on: .enterprise, one)
                let admin = try await Caller.make(one, tenant: tenant)
                let other = try await Caller.make(two, tenant: tenant)
                try await waitUntilListening(admin)
                let service = Caller(client: one, token: try await TestSupport.token(tenant: nil, roles: [.service]))
                let agent = try await admin.create("Shared", #""status":"active""#)
                let path = "/internal/v1/tenants/\(tenant)/agents/\(agent.id)/config"
                #expect(try await service.send(.get, path).status == .ok)
                #expect(try await other.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"inactive"}"#).status == .ok)
                #expect(try await eventually { try await service.send(.get, path).errorCode == "AMS-304" })
                #expect(try await other.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#).status == .ok)
                #expect(try await eventually { try await service.send(.get, path).status == .ok })
                #expect(try await other.send(.delete, "/v1/agents/\(agent.id)").status == .noContent)
                #expect(try await eventually { try await service.send(.get, path).errorCode == "AMS-301" })
            }
        }
    }
}
