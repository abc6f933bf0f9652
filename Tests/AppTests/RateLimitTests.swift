import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

/// The tier's rate limits, counted in Redis across replicas.
@Suite struct RateLimitTests {
    /// Two replicas share one count; beyond the limit: 429 AMS-208 with the headers that say when
    /// to come back.
    @Test func limitsHoldAcrossTwoReplicas() async throws {
        let q = try await TestQueues()
        var config = try q.configuration()
        config.rateLimits = true
        // A fixed window restarts each minute: do not start right before it does.
        let second = Int(Date.now.timeIntervalSince1970) % 60
        if second > 45 { try await Task.sleep(for: .seconds(61 - second)) }
        let one = try await buildApplication(config, logger: makeLogger(config))
        let two = try await buildApplication(config, logger: makeLogger(config))
        try await one.test(.router) { a in
            try await two.test(.router) { b in
                let tenant = TestSupport.tenant()
                let callers = [try await Caller.make(a, tenant: tenant), try await Caller.make(b, tenant: tenant)]
                // Free tier: 5 creates a day (each agent deleted after, to keep within the quota of
                // 2 agents), the sixth is over the limit on either replica.
                for i in 0..<5 {
                    let r = try await callers[i % 2].send(.post, "/v1/agents", json: #"{"name":"A\#(i)","llm_config":{"model":"gpt-4o-mini"}}"#)
                    #expect(r.status == .created, "\(i): \(r.status)")
                    #expect(r.headers[.rateLimitLimit] == "60")
                    #expect(try await callers[i % 2].send(.delete, "/v1/agents/\(try r.json().id)").status == .noContent)
                }
                let sixth = try await callers[1].send(.post, "/v1/agents", json: #"{"name":"A6","llm_config":{"model":"gpt-4o-mini"}}"#)
                #expect(sixth.status == .tooManyRequests && sixth.errorCode == "AMS-208")
                let details = try sixth.json()["error"]?["details"]
                #expect(details?["limit_name"] == .string("agent_creates_per_day") && details?["limit"] == .int(5))
                #expect(sixth.headers[.rateLimitLimit] == "5" && sixth.headers[.rateLimitRemaining] == "0")
                let retry = Int(sixth.headers[.retryAfter] ?? "") ?? 0
                #expect(retry > 0 && retry <= 86_400)
                #expect(Int(sixth.headers[.rateLimitReset] ?? "") == (Int(Date.now.timeIntervalSince1970) / 86_400 + 1) * 86_400)

                // 60 requests a minute, whatever they are: 6 so far. A slow run may cross into the
                // next minute's window (a new `X-RateLimit-Reset`), which starts counting anew:
                // either way the request after the window's last one is refused.
                var (window, last) = ("", -1)
                var over: TestResponse?
                for i in 6..<200 {
                    let r = try await callers[i % 2].send(.get, "/v1/tenant")
                    if r.status == .tooManyRequests {
                        over = r
                        break
                    }
                    #expect(r.status == .ok && r.headers[.rateLimitLimit] == "60")
                    window = r.headers[.rateLimitReset] ?? ""
                    last = Int(r.headers[.rateLimitRemaining] ?? "") ?? -1
                }
                let refused = try #require(over)
                #expect(last == 0 && refused.headers[.rateLimitReset] == window, "refused right after the window's last request")
                #expect(refused.errorCode == "AMS-208")
                #expect(try refused.json()["error"]?["details"]?["limit_name"] == .string("requests_per_minute"))
                let other = try await Caller.make(a, tenant: TestSupport.tenant())
                #expect(try await other.send(.get, "/v1/tenant").status == .ok, "another tenant has its own count")
            }
        }
    }

    /// Only writes made count: refused creates use nothing, an apply counts each agent it creates
    /// and is refused whole, with nothing written, when they do not all fit (the issue's example).
    @Test func refusedWritesUseNothingAndAnApplyCountsEachAgent() async throws {
        let app = try await Self.limitedApp(creates: 3, updates: 100)
        try await app.test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            // Four refused creates: invalid, not JSON, an unknown field, a role not allowed.
            let refused = [
                try await admin.send(.post, "/v1/agents", json: #"{"name":"Bad","llm_config":{"model":"no-such-model"}}"#),
                try await admin.send(.post, "/v1/agents", json: "{"),
                try await admin.send(.post, "/v1/agents", json: #"{"name":"Odd","nope":1,"llm_config":{"model":"gpt-4o-mini"}}"#),
                try await viewer.send(.post, "/v1/agents", json: #"{"name":"Viewer","llm_config":{"model":"gpt-4o-mini"}}"#),
            ]
            #expect(refused.map(\.status.code) == [400, 400, 400, 403])
            #expect(try await admin.send(.post, "/v1/agents", json: #"{"name":"First","llm_config":{"model":"gpt-4o-mini"}}"#).status == .created)

            let three = Self.apply(["First", "N1", "N2", "N3"])
            let over = try await admin.send(.post, "/v1/agents/apply", json: three)
            #expect(over.status == .tooManyRequests && over.errorCode == "AMS-208", "\(String(buffer: over.body))")
            #expect(try over.json()["error"]?["details"]?["limit_name"] == .string("agent_creates_per_day"))
            #expect(try await admin.send(.get, "/v1/agents").json()["items"]?.arrayValue?.count == 1, "nothing written")

            let two = try await admin.send(.post, "/v1/agents/apply", json: Self.apply(["First", "N1", "N2"]))
            #expect(two.status == .ok, "\(String(buffer: two.body))")
            let next = try await admin.send(.post, "/v1/agents", json: #"{"name":"Next","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(next.status == .tooManyRequests && next.errorCode == "AMS-208")
            #expect(try await admin.send(.get, "/v1/agents").json()["items"]?.arrayValue?.count == 3)
        }
    }

    /// A refusal was counted like any request, so it says what is left as a 2xx does (the hot
    /// read's 404 included); a 429 keeps the headers of the limit it reached.
    @Test func refusalsCarryTheRateLimitHeaders() async throws {
        let app = try await Self.limitedApp(creates: 3, updates: 1)
        try await app.test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            let unknown = UUID().uuidString.lowercased()
            let refusals = [
                try await admin.send(.get, "/v1/agents/\(unknown)"),
                try await admin.send(.get, "/v1/agents?limit=0"),
                try await admin.send(.post, "/v1/agents", json: "{"),
                try await viewer.send(.post, "/v1/agents", json: #"{"name":"V","llm_config":{"model":"gpt-4o-mini"}}"#),
                try await admin.send(.post, "/v1/agents/\(unknown)/status", json: #"{"status":"active"}"#),
            ]
            #expect(refusals.map(\.status.code) == [404, 400, 400, 403, 404])
            for r in refusals {
                #expect(r.headers[.rateLimitLimit] == "300", "\(r.status)")
                #expect((Int(r.headers[.rateLimitRemaining] ?? "") ?? 300) < 300, "\(r.status)")
                #expect(Int(r.headers[.rateLimitReset] ?? "") != nil, "\(r.status)")
            }
            let id = try #require(try await admin.create("A")["id"]?.stringValue)
            #expect(try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"changed"}"#).status == .ok)
            let over = try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"again"}"#)
            #expect(over.status == .tooManyRequests && over.headers[.rateLimitLimit] == "1" && over.headers[.rateLimitRemaining] == "0")
        }
    }

    /// An idempotent replay uses nothing; an apply counts each agent it updates; a dry run counts none.
    @Test func replaysUseNothingAndAnApplyCountsItsUpdates() async throws {
        let app = try await Self.limitedApp(creates: 3, updates: 3)
        try await app.test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let key: HTTPFields = [Idempotency.keyField: "once"]
            let body = #"{"name":"A","llm_config":{"model":"gpt-4o-mini"}}"#
            #expect(try await admin.send(.post, "/v1/agents", json: body, headers: key).status == .created)
            for _ in 0..<2 {
                let replay = try await admin.send(.post, "/v1/agents", json: body, headers: key)
                #expect(replay.status == .created && replay.headers[Idempotency.replayedField] == "true")
            }
            _ = try await admin.create("B")
            _ = try await admin.create("C")

            let changed = Self.apply(["A", "B", "C"], description: "changed")
            #expect(try await admin.send(.post, "/v1/agents/apply?dry_run=1", json: changed).status == .ok)
            let applied = try await admin.send(.post, "/v1/agents/apply", json: changed)
            #expect(applied.status == .ok)
            #expect(try applied.json()["items"]?.arrayValue?.map { $0["action"] } == Array(repeating: .string("update"), count: 3))
            let agent = try #require(try applied.json()["items"]?.arrayValue?.first?["id"]?.stringValue)
            let patch = try await admin.send(.patch, "/v1/agents/\(agent)", json: #"{"description":"again"}"#)
            #expect(patch.status == .tooManyRequests && patch.errorCode == "AMS-208")
            #expect(try patch.json()["error"]?["details"]?["limit_name"] == .string("agent_updates_per_hour"))
        }
    }

    /// A PATCH or rollback that makes no version uses no update; one that does uses one.
    @Test func writesThatChangeNothingUseNothing() async throws {
        let app = try await Self.limitedApp(creates: 3, updates: 1)
        try await app.test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("A")
            let id = try #require(agent["id"]?.stringValue)
            for _ in 0..<3 {
                let same = try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"name":"A"}"#)
                #expect(try same.status == .ok && same.json()["version"] == agent["version"])
                let back = try await admin.send(.post, "/v1/agents/\(id)/rollback", json: #"{"version":1}"#)
                #expect(try back.status == .ok && back.json()["version"] == agent["version"])
            }
            #expect(try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"changed"}"#).status == .ok)
            let over = try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"again"}"#)
            #expect(over.status == .tooManyRequests && over.errorCode == "AMS-208")
            #expect(try await admin.send(.get, "/v1/agents/\(id)").json()["description"] == .string("changed"), "the refused one wrote nothing")
        }
    }

    /// A bulk update counts each agent it changes when it runs; those over the limit are skipped.
    @Test func aBulkUpdateCountsEachAgentItUpdates() async throws {
        let q = try await TestQueues()
        var config = try q.configuration()
        config.rateLimits = true
        config.tiersFile = try Self.tiersFile(creates: 100, updates: 2)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            for name in ["A", "B", "C"] { _ = try await admin.create(name) }
            let bulk = try await q.run(client, tenant, .bulkUpdate, ["filter": .object([:]), "patch": .object(["description": .string("bulk")])])
            #expect(bulk["status"] == .string("completed"), "\(bulk)")
            #expect(bulk["result"]?["updated"]?.arrayValue?.count == 2, "\(bulk)")
            let skipped = bulk["result"]?["skipped"]?.arrayValue ?? []
            #expect(skipped.count == 1 && skipped.first?["code"] == .string("AMS-208"), "\(bulk)")
            let agents = try await admin.send(.get, "/v1/agents").json()["items"]?.arrayValue ?? []
            #expect(agents.filter { $0["description"] == .string("bulk") }.count == 2)
        }
    }

    /// An apply body of agents by name.
    private static func apply(_ names: [String], description: String? = nil) -> String {
        let agents = names.map { name in
            #"{"name":"\#(name)","llm_config":{"model":"gpt-4o-mini"}\#(description.map { #","description":"\#($0)""# } ?? "")}"#
        }
        return #"{"agents":[\#(agents.joined(separator: ","))]}"#
    }

    /// The shipped tiers with the professional tier's creates per day and updates per hour set.
    private static func tiersFile(creates: Int, updates: Int) throws -> String {
        let shipped = try String(contentsOfFile: try TestSupport.configuration().tiersFile, encoding: .utf8)
        let text =
            shipped
            .replacingOccurrences(of: "agent_creates_per_day: 20\n", with: "agent_creates_per_day: \(creates)\n")
            .replacingOccurrences(of: "agent_updates_per_hour: 100\n", with: "agent_updates_per_hour: \(updates)\n")
        try #require(text != shipped)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tiers-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private static func limitedApp(creates: Int, updates: Int) async throws -> some ApplicationProtocol {
        var config = try TestSupport.configuration()
        config.rateLimits = true
        config.tiersFile = try tiersFile(creates: creates, updates: updates)
        return try await buildApplication(config, logger: makeLogger(config))
    }

    /// Redis away: requests go through and are counted as unchecked, or, failing closed, are refused.
    @Test func withoutRedisRequestsFailOpenOrClosedAsConfigured() async throws {
        var config = try TestSupport.configuration()
        config.rateLimits = true
        config.redisURL = "redis://127.0.0.1:1"
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            #expect(try await admin.send(.get, "/v1/tenant").status == .ok)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(
                metrics.contains("ams_rate_limit_unchecked_total 1") || metrics.contains("ams_rate_limit_unchecked_total 2"),
                "\(metrics.prefix(200))"
            )
        }
        config.rateLimitFailClosed = true
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let refused = try await admin.send(.get, "/v1/tenant")
            #expect(refused.status == .serviceUnavailable && refused.errorCode == "AMS-503")
        }
    }
}
