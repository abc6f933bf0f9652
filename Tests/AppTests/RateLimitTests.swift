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
                // Free tier: 5 creates a day (the quota of 2 agents refuses the last three, and
                // they count all the same), the sixth is over the limit on either replica.
                for i in 0..<5 {
                    let r = try await callers[i % 2].send(.post, "/v1/agents", json: #"{"name":"A\#(i)","llm_config":{"model":"gpt-4o-mini"}}"#)
                    #expect(r.status == (i < 2 ? .created : .forbidden), "\(i): \(r.status)")
                    #expect(r.headers[.rateLimitLimit] == "60" || r.status != .created)
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
