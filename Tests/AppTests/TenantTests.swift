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

@Suite struct TenantTests {
    @Test func tenantDescribesTierLimitsAndUsage() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            let fresh = try await viewer.send(.get, "/v1/tenant").json()
            #expect(fresh["tenant_id"] == .string(tenant))
            #expect(fresh["tier"] == .string("free"))
            #expect(fresh["limits"]?["max_agents"] == .int(2))
            #expect(fresh["limits"]?["allowed_models"] == .array([.string("claude-3-haiku"), .string("gpt-4o-mini")]))
            #expect(fresh["usage"] == .object(["agents": .int(0)]))
            _ = try await Caller.make(client, tenant: tenant).create("One")
            #expect(try await viewer.send(.get, "/v1/tenant").json()["usage"] == .object(["agents": .int(1)]))
        }
    }

    @Test func tierChangesApplyAtOnceAndUnknownTiersAreRefused() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            let admin = try await Caller.make(client, tenant: tenant)
            _ = try await admin.create("One")
            _ = try await admin.create("Two")
            let refused = try await admin.send(.post, "/v1/agents", json: #"{"name":"Three","type":"workflow","llm_config":{"model":"gpt-4.1"}}"#)
            #expect(refused.errorCode == "AMS-207")

            // As an unknown `min_tier` in the tool catalog: a malformed body, naming the field.
            for body in [#"{"tier":"platinum"}"#, "{}", #"{"tier":null}"#] {
                let bad = try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: body)
                #expect(bad.status == .badRequest && bad.errorCode == "AMS-109", "\(body)")
                #expect(try bad.json()["error"]?["details"]?["field"] == .string("/tier"), "\(body)")
            }
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"pro","x":1}"#).errorCode == "AMS-109")

            let upgraded = try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"professional"}"#)
            #expect(upgraded.status == .ok)
            #expect(try upgraded.json()["tier"] == .string("professional"))
            #expect(try upgraded.json()["usage"] == .object(["agents": .int(2)]))
            #expect(try await admin.send(.get, "/v1/tenant").json()["tier"] == .string("professional"))
            _ = try await admin.create("Three", #""type":"workflow","system_prompt":"Plan carefully","llm_config":{"model":"gpt-4.1"}"#)
        }
    }

    /// The path carries the tenant id percent-encoded; the header and the token carry it as it is.
    @Test func aPercentEncodedTenantInThePathIsTheSameTenant() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = "acme:ü-\(UUID().uuidString.prefix(8))"
            let encoded = try #require(tenant.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            #expect(try await service.send(.put, "/internal/v1/tenants/\(encoded)", json: #"{"tier":"enterprise"}"#).status == .ok)
            let admin = try await Caller.make(client, tenant: tenant)
            #expect(try await admin.send(.get, "/v1/tenant").json()["tier"] == .string("enterprise"))
            let control = try await service.send(.put, "/internal/v1/tenants/a%C2%85b", json: #"{"tier":"free"}"#)
            #expect(control.errorCode == "AMS-109")
        }
    }

    @Test func dryRunValidationReportsIssuesAndQuotaWithoutWriting() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            let ok = try await viewer.send(.post, "/v1/validations", json: #"{"name":"A","llm_config":{"model":"gpt-4o-mini","temperature":1.9}}"#)
            #expect(ok.status == .ok)
            #expect(try ok.json()["valid"] == .bool(true))
            #expect(try ok.json()["issues"].map { if case .array(let a) = $0 { a.count } else { 0 } } == 1)
            let bad = try await viewer.send(.post, "/v1/validations", json: #"{"name":"","llm_config":{"model":"gpt-4o"}}"#)
            #expect(try bad.json()["valid"] == .bool(false))
            #expect(try await viewer.send(.post, "/v1/validations", json: #"{"bogus":1}"#).errorCode == "AMS-109")

            let admin = try await Caller.make(client, tenant: tenant)
            _ = try await admin.create("One")
            _ = try await admin.create("Two")
            let full = try await viewer.send(.post, "/v1/validations", json: #"{"name":"Three","llm_config":{"model":"gpt-4o-mini"}}"#).json()
            #expect(full["valid"] == .bool(false))
            #expect(full["issues"].map { if case .array(let a) = $0 { a.compactMap { $0["code"]?.stringValue } } else { [] } } == ["AMS-107"])
            #expect(try await viewer.send(.get, "/v1/tenant").json()["usage"] == .object(["agents": .int(2)]))
        }
    }

    /// On a database of its own: it replaces the catalog, which other suites read.
    @Test func toolCatalogCanBeReplacedAndIsUsedByValidation() async throws {
        try await TestSupport.app(databaseURL: try await TestSupport.freshDatabase()).test(.router) { client in
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            let seeded = try await service.send(.get, "/internal/v1/tools").json().items()
            #expect(seeded.contains { $0["id"] == .string("search") })
            let toolID = "tool-" + UUID().uuidString.prefix(8).lowercased()
            let extended = JSONValue.array(
                seeded + [.object(["id": .string(toolID), "name": .string("Test tool"), "required_config": .array([.string("key")])])]
            )
            let put = try await service.send(.put, "/internal/v1/tools", json: String(decoding: extended.encoded, as: UTF8.self))
            #expect(put.status == .ok)
            let stored = try await service.send(.get, "/internal/v1/tools").json().items()
            #expect(stored.last?["id"] == .string(toolID))

            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let missingKey = try await admin.send(
                .post,
                "/v1/agents",
                json: #"{"name":"T","llm_config":{"model":"gpt-4o-mini"},"tools":["\#(toolID)"]}"#
            )
            #expect(missingKey.errorCode == "AMS-100")
            _ = try await admin.create("T", #""tools":[{"id":"\#(toolID)","config":{"key":"v"}}]"#)

            #expect(try await service.send(.put, "/internal/v1/tools", json: #"{"id":"x"}"#).errorCode == "AMS-109")
            #expect(try await service.send(.put, "/internal/v1/tools", json: #"[{"id":"a"},{"id":"a"}]"#).errorCode == "AMS-109")
            #expect(try await service.send(.put, "/internal/v1/tools", json: #"[{"id":"a","min_tier":"gold"}]"#).errorCode == "AMS-109")
        }
    }

    @Test func healthAndReadiness() async throws {
        try await TestSupport.app().test(.router) { client in
            let live = try await client.execute(uri: "/health", method: .get)
            #expect(try live.json() == .object(["status": .string("ok")]))
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(try ready.json()["components"]?["postgres"]?["status"] == .string("up"))
            #expect(try ready.json()["components"]?["redis"]?["status"] == .string("up"))
        }
    }

    /// A Redis that drops packets (no refusal, no answer) is reported down within readiness's
    /// own half-second limit, not after the client's timeout (`AMS_REDIS_TIMEOUT`).
    @Test func aSilentRedisIsReportedDownQuickly() async throws {
        let direct = try RedisURL(try #require(ProcessInfo.processInfo.environment["AMS_TEST_REDIS_URL"], "run the tests with scripts/test.sh"))
        let proxy = try await TCPProxy(upstreamHost: direct.host, upstreamPort: direct.port)
        var config = try TestSupport.configuration()
        config.redisURL = "redis://127.0.0.1:\(proxy.port)"
        config.redisTimeout = .seconds(30)
        // Readiness only: a consumer's calls in flight would hold the shutdown for the 30 s timeout.
        config.taskConsumer = false
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let before = try await client.execute(uri: "/health/ready", method: .get)
            #expect(try before.json()["components"]?["redis"]?["status"] == .string("up"))
            proxy.partition()
            let started = ContinuousClock.now
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(try ready.json()["components"]?["redis"]?["status"] == .string("down"))
            // Far below the client's 30 s: readiness does not wait for the PING's own timeout.
            #expect(ContinuousClock.now - started < .seconds(15))
        }
        try await proxy.close()
    }

    /// Redis down: readiness says so, but the replica stays ready and CRUD keeps working.
    @Test func aDeadRedisIsReportedWithoutStoppingCRUD() async throws {
        var config = try TestSupport.configuration()
        config.redisURL = "redis://127.0.0.1:1"
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(try ready.json()["status"] == .string("ready"))
            #expect(try ready.json()["components"]?["redis"]?["status"] == .string("down"))
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Without Redis")
            #expect(try await admin.send(.get, "/v1/agents/\(agent["id"]?.stringValue ?? "")").status == .ok)
        }
    }
}

@Suite struct IsolationTests {
    @Test func noTenantSeesOrChangesAnothersAgents() async throws {
        try await TestSupport.app().test(.router) { client in
            let a = try await Caller.make(client, tenant: TestSupport.tenant())
            let b = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await a.create("Private")
            _ = try await b.create("Mine")
            #expect(try await b.send(.get, "/v1/agents/\(agent.id)").errorCode == "AMS-301")
            #expect(try await b.send(.patch, "/v1/agents/\(agent.id)", json: #"{"name":"Hijacked"}"#).errorCode == "AMS-301")
            #expect(try await b.send(.delete, "/v1/agents/\(agent.id)").errorCode == "AMS-301")
            let listed = try #require(try await b.send(.get, "/v1/agents").json()["items"]).items()
            #expect(listed.map { $0["name"] } == [.string("Mine")])
            #expect(try await b.send(.get, "/v1/agents?q=Private").json()["items"] == .array([]))
            #expect(try await a.send(.get, "/v1/agents/\(agent.id)").json() == agent)
            _ = try await b.create("Private")
        }
    }

    @Test func rowLevelSecurityHidesRowsFromQueriesWithoutATenant() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            _ = try await Caller.make(client, tenant: tenant).create("Hidden")
            let pg = PostgresClient(configuration: try .init(url: try TestSupport.databaseURL()))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await pg.run() }
                defer { group.cancelAll() }
                func count(_ sql: PostgresQuery) async throws -> Int {
                    try await pg.withTransaction(logger: Logger(label: "test")) { conn in
                        var n = -1
                        for try await row in try await conn.query(sql, logger: Logger(label: "test")).decode(Int.self) { n = row }
                        return n
                    }
                }
                #expect(try await count("SELECT count(*)::int8 FROM agents") == 0)
                #expect(try await count("SELECT count(*)::int8 FROM agents WHERE tenant_id = \(tenant)") == 0)
                #expect(try await count("SELECT count(*)::int8 FROM tenants") == 0)
                let scoped = try await pg.withTransaction(logger: Logger(label: "test")) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                    var n = -1
                    for try await row in try await conn.query("SELECT count(*)::int8 FROM agents", logger: Logger(label: "test")).decode(Int.self) {
                        n = row
                    }
                    return n
                }
                #expect(scoped == 1)
            }
        }
    }
}
