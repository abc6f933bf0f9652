import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing
import Validators

@testable import App

@Suite struct HotReadsTests {
    @Test func onlyTheExactFormsAreHot() {
        let id = UUID()
        let text = id.uuidString.lowercased()
        #expect(HotReads.Read(path: "/v1/agents/\(text)") == .agent(id))
        #expect(HotReads.Read(path: "/v1/agents/\(id.uuidString)") == .agent(id))
        #expect(HotReads.Read(path: "/internal/v1/tenants/t1/agents/\(text)/config") == .config(tenant: "t1", id: id))
        #expect(HotReads.Read(path: "/internal/v1/tenants/t%201/agents/\(text)/config") == .config(tenant: "t%201", id: id))
        for path in [
            "/v1/agents", "/v1/agents/", "/v1/agents/\(text)/", "/v1/agents/\(text)/versions", "/v1/agents/not-a-uuid", "/v1//agents/\(text)",
            "/v1/agents/\(text.dropLast())", "/internal/v1/tenants//agents/\(text)/config", "/internal/v1/tenants/t1/agents/\(text)/availability",
            "/internal/v1/tenants/t1/agents/\(text)/config/", "/internal/v1/tenants/t1/agents/x/config",
            "/internal/v1/tenants/t1/x/agents/\(text)/config",
            "/internal/v1/tenants/t1/agents//\(text)/config", "/internal/v1/tenants/config",
        ] {
            #expect(HotReads.Read(path: path) == nil, "\(path)")
        }
    }

    /// The hot path answers by itself: in front of a router with no routes at all, its reads are
    /// still served (here refused for want of a token), and everything else gets the router's 404.
    @Test func theHotPathAnswersWithoutTheRouter() async throws {
        let deps = try await ContractTests.dependencies()
        let hot = buildRouter(deps).hot
        let empty = AppResponder(router: Router(context: AppRequestContext.self).buildResponder(), hot: hot)
        try await Application(responder: empty).test(.router) { client in
            let id = UUID().uuidString
            let agent = try await client.execute(uri: "/v1/agents/\(id)", method: .get)
            #expect(agent.errorCode == "AMS-201")
            let config = try await client.execute(uri: "/internal/v1/tenants/t1/agents/\(id)/config", method: .get)
            #expect(config.errorCode == "AMS-201")
            #expect(try await client.execute(uri: "/v1/agents/\(id)/versions", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/v1/agents/\(id)", method: .head).status == .notFound)
        }
    }

    /// Every answer of the hot path, success or error, is the router's answer to the same request.
    @Test func theHotPathAnswersAsTheRouterDoes() async throws {
        let config = try TestSupport.configuration()
        let logger = Logger(label: "test")
        _ = try await Migrator.run(url: config.databaseURL, logger: logger)
        let client = PostgresClient(configuration: try .init(url: config.databaseURL), backgroundLogger: logger)
        let builder = buildRouter(try await TestSupport.routerDependencies(config, client: client, logger: logger))
        let routerOnly = builder.router.buildResponder()
        try await Application(router: builder, services: [client]).test(.router) { hot in
            try await Application(responder: routerOnly).test(.router) { routed in
                let tenant = try await TestSupport.tenant(on: .enterprise, hot)
                let admin = try await Caller.make(hot, tenant: tenant)
                let agent = try await admin.create("Hot", #""system_prompt":"Fast.""#)
                let id = try #require(agent["id"]?.stringValue)
                let draft = try await admin.create("Cold")
                let draftID = try #require(draft["id"]?.stringValue)
                #expect(try await admin.send(.post, "/v1/agents/\(id)/status", json: #"{"status":"active"}"#).status == .ok)
                let service = try await TestSupport.token(tenant: nil, roles: [.service])
                let user = try await TestSupport.token(tenant: tenant)
                let stranger = try await TestSupport.token(tenant: TestSupport.tenant())
                let encoded = tenant.replacingOccurrences(of: "-", with: "%2D")
                let cases: [(String, HTTPFields)] = [
                    ("/v1/agents/\(id)", [.authorization: "Bearer \(user)"]),
                    ("/v1/agents/\(id.uppercased())", [.authorization: "Bearer \(user)"]),
                    ("/v1/agents/\(id)", [.authorization: "Bearer \(user)", .ifNoneMatch: "\"2\""]),
                    ("/v1/agents/\(id)", [.authorization: "Bearer \(user)", .ifNoneMatch: "\"1\""]),
                    ("/v1/agents/\(id)", [:]),
                    ("/v1/agents/\(id)", [.authorization: "Bearer nonsense"]),
                    ("/v1/agents/\(id)", [.authorization: "Bearer \(service)"]),
                    ("/v1/agents/\(id)", [.authorization: "Bearer \(service)", .tenantID: tenant]),
                    ("/v1/agents/\(id)", [.authorization: "Bearer \(stranger)"]),
                    ("/v1/agents/\(UUID().uuidString)", [.authorization: "Bearer \(user)"]),
                    ("/internal/v1/tenants/\(tenant)/agents/\(id)/config", [.authorization: "Bearer \(service)"]),
                    ("/internal/v1/tenants/\(encoded)/agents/\(id)/config", [.authorization: "Bearer \(service)"]),
                    ("/internal/v1/tenants/\(tenant)/agents/\(id)/config", [.authorization: "Bearer \(service)", .ifNoneMatch: "\"1\""]),
                    ("/internal/v1/tenants/\(tenant)/agents/\(id)/config?alias=production", [.authorization: "Bearer \(service)"]),
                    ("/internal/v1/tenants/\(tenant)/agents/\(id)/config?alias=no%20such", [.authorization: "Bearer \(service)"]),
                    ("/internal/v1/tenants/\(tenant)/agents/\(draftID)/config", [.authorization: "Bearer \(service)"]),
                    ("/internal/v1/tenants/\(tenant)/agents/\(id)/config", [.authorization: "Bearer \(user)"]),
                    ("/internal/v1/tenants/\(TestSupport.tenant())/agents/\(id)/config", [.authorization: "Bearer \(service)"]),
                    ("/internal/v1/tenants/bad%20tenant/agents/\(id)/config", [.authorization: "Bearer \(service)"]),
                ]
                var statuses: Set<Int> = []
                for (uri, headers) in cases {
                    let a = try await hot.execute(uri: uri, method: .get, headers: headers, body: nil)
                    let b = try await routed.execute(uri: uri, method: .get, headers: headers, body: nil)
                    #expect(a.status == b.status, "\(uri)")
                    #expect(a.headers[.eTag] == b.headers[.eTag], "\(uri)")
                    #expect(a.headers[.contentType] == b.headers[.contentType], "\(uri)")
                    #expect(a.headers[.requestID] != nil)
                    #expect(try Self.comparable(a) == Self.comparable(b), "\(uri)")
                    statuses.insert(a.status.code)
                }
                #expect(statuses == [200, 304, 401, 400, 403, 404, 409], "the cases reach every kind of answer")
            }
        }
    }

    /// The body without what differs per request (the error envelope's request id and time).
    static func comparable(_ response: TestResponse) throws -> JSONValue? {
        guard response.body.readableBytes > 0 else { return nil }
        guard case .object(var object) = try response.json() else { return try response.json() }
        if case .object(var error) = object["error"] {
            error["request_id"] = nil
            error["timestamp"] = nil
            object["error"] = .object(error)
        }
        return .object(object)
    }
}
