import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import App
@testable import Infra

/// `/v1/webhooks`: registration, the address guard, the tier's quota, and the endpoint's life.
@Suite struct WebhookAPITests {
    @Test func anEndpointIsRegisteredWithASecretShownOnceThenChangedAndRemoved() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .advance, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let created = try await admin.send(
                .post,
                "/v1/webhooks",
                json: #"{"url":"https://hooks.example.com/ams","events":["agent_updated","agent_created","agent_updated"],"description":"CI"}"#
            )
            #expect(created.status == .created)
            let body = try created.json()
            let id = body.id
            let secret = try #require(body["secret"]?.stringValue)
            #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32, "\(secret)")
            #expect(created.headers[.location] == "/v1/webhooks/\(id)")
            #expect(body["events"] == .array([.string("agent_updated"), .string("agent_created")]), "duplicates dropped, order kept")
            #expect(body["status"] == .string("active") && body["consecutive_failures"] == .int(0) && body["disabled_reason"] == .null)

            let shown = try await admin.send(.get, "/v1/webhooks/\(id)").json()
            #expect(shown["secret"] == nil && shown["url"] == .string("https://hooks.example.com/ams") && shown["description"] == .string("CI"))
            let list = try await admin.send(.get, "/v1/webhooks").json()
            #expect(try list["items"]?.items().map(\.id) == [id] && list["next_cursor"] == .null)
            #expect(try await admin.send(.get, "/v1/webhooks/\(id)/deliveries").json() == .object(["items": .array([]), "next_cursor": .null]))

            let patched = try await admin.send(
                .patch,
                "/v1/webhooks/\(id)",
                json: #"{"events":["*","agent_deleted"],"description":null,"status":"disabled"}"#
            )
            #expect(patched.status == .ok)
            let after = try patched.json()
            #expect(after["events"] == .array([.string("*")]) && after["description"] == .null)
            #expect(after["status"] == .string("disabled") && after["disabled_reason"] == .string("user"))
            let enabled = try await admin.send(.patch, "/v1/webhooks/\(id)", json: #"{"status":"active"}"#).json()
            #expect(enabled["status"] == .string("active") && enabled["disabled_reason"] == .null)

            // Another tenant sees none of it.
            let other = try await Caller.make(client, tenant: TestSupport.tenant())
            #expect(try await other.send(.get, "/v1/webhooks/\(id)").errorCode == "AMS-311")
            #expect(try await other.send(.delete, "/v1/webhooks/\(id)").errorCode == "AMS-311")
            #expect(try await other.send(.get, "/v1/webhooks").json()["items"] == .array([]))

            #expect(try await admin.send(.delete, "/v1/webhooks/\(id)").status == .noContent)
            let gone = try await admin.send(.get, "/v1/webhooks/\(id)")
            #expect(gone.status == .notFound && gone.errorCode == "AMS-311")
            #expect(try await admin.send(.get, "/v1/webhooks/\(id)/deliveries").errorCode == "AMS-311")
            #expect(try await admin.send(.get, "/v1/webhooks/not-an-id").errorCode == "AMS-311")
        }
    }

    @Test func badBodiesAreRefusedAtTheFieldAtFault() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            func issues(_ json: String) async throws -> [String] {
                let response = try await admin.send(.post, "/v1/webhooks", json: json)
                #expect(response.status == .badRequest && response.errorCode == "AMS-100", "\(json): \(String(buffer: response.body))")
                return try (response.json()["error"]?["details"]?["issues"]?.items() ?? []).compactMap { $0["path"]?.stringValue }
            }
            #expect(try await issues(#"{"events":["*"]}"#) == ["/url"])
            #expect(try await issues(#"{"url":"https://example.com/h"}"#) == ["/events"])
            #expect(try await issues(#"{"url":"https://example.com/h","events":[]}"#) == ["/events"])
            #expect(try await issues(#"{"url":"https://example.com/h","events":["agent_updated","agent_exploded"]}"#) == ["/events/1"])
            // Postgres keeps no U+0000: the body is refused as it is read.
            #expect(try await admin.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/\u0000","events":["*"]}"#).errorCode == "AMS-109")
            #expect(
                try await issues(#"{"url":"https://example.com/h","events":["*"],"description":"\#(String(repeating: "é", count: 501))"}"#) == [
                    "/description"
                ]
            )
            for url in ["ftp://example.com/h", "file:///etc/passwd", "not a url", "https://user:pw@example.com/h", "http:///nohost"] {
                #expect(try await issues(#"{"url":"\#(url)","events":["*"]}"#) == ["/url"], "\(url)")
            }
            let unknown = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/h","events":["*"],"secret":"mine"}"#)
            #expect(unknown.status == .badRequest && unknown.errorCode == "AMS-109")
            let typed = try await admin.send(.post, "/v1/webhooks", json: #"{"url":42,"events":["*"]}"#)
            #expect(typed.status == .badRequest && typed.errorCode == "AMS-109")
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            #expect(try await viewer.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/h","events":["*"]}"#).status == .forbidden)
            #expect(try await admin.send(.get, "/v1/webhooks").json()["items"] == .array([]), "nothing was stored")
        }
    }

    /// Each address class the guard names, as a literal, in the odd spellings `getaddrinfo` reads,
    /// by a name that resolves to one, and IPv4 carried in IPv6 (mapped, NAT64, 6to4, Teredo, whose
    /// client address is inverted). Registration and delivery are both checked against this table.
    static let refusedURLs: [(url: String, kind: String)] = [
        ("http://127.0.0.1:8080/h", "loopback"), ("http://localhost/h", "loopback"), ("http://2130706433/h", "loopback"),
        ("http://0x7f.1/h", "loopback"), ("http://[::1]/h", "loopback"), ("http://[::ffff:127.0.0.1]/h", "loopback"),
        ("http://10.1.2.3/h", "private"), ("http://172.16.0.1/h", "private"), ("http://192.168.1.1/h", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"), ("http://[fe80::1]/h", "link-local"),
        ("http://100.64.0.1/h", "carrier-grade NAT"), ("http://224.0.0.1/h", "multicast"), ("http://[ff02::1]/h", "multicast"),
        ("http://0.0.0.0/h", "unspecified"), ("http://[::]/h", "unspecified"), ("http://[fd00::1]/h", "IPv6 unique local"),
        ("http://[2002:7f00:1::]/h", "loopback"), ("http://[2002:a01:203::1]/h", "private"),
        ("http://[64:ff9b::a9fe:a9fe]/h", "link-local"), ("http://[64:ff9b:1::808:808]/h", "reserved"),
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/h", "loopback"), ("http://[2001::f5ff:fffe]/h", "private"),
        ("http://198.18.0.1/h", "reserved"), ("http://198.19.255.255/h", "reserved"), ("http://192.0.0.8/h", "reserved"),
        ("http://240.0.0.1/h", "reserved"), ("http://255.255.255.255/h", "reserved"),
        ("http://192.0.2.1/h", "documentation"), ("http://198.51.100.7/h", "documentation"), ("http://203.0.113.9/h", "documentation"),
        ("http://[2001:db8::1]/h", "documentation"), ("http://[3fff:fff::1]/h", "documentation"),
    ]

    @Test func urlsThatReachTheServicesOwnNetworkAreRefused() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            for (url, kind) in Self.refusedURLs {
                let response = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(url)","events":["*"]}"#)
                let issue = try response.json()["error"]?["details"]?["issues"]?.items().first
                #expect(response.status == .badRequest && response.errorCode == "AMS-100" && issue?["path"] == .string("/url"), "\(url)")
                #expect(issue?["message"]?.stringValue?.contains("a \(kind) address") == true, "\(url): \(issue?["message"] ?? .null)")
            }
            // A public address is accepted.
            #expect(try await admin.send(.post, "/v1/webhooks", json: #"{"url":"http://93.184.216.34/h","events":["*"]}"#).status == .created)
        }
    }

    /// The guard at delivery refuses the same addresses, before any connection is made.
    @Test func deliveriesToTheSameURLsAreRefused() async throws {
        let http = WebhookClient.makeHTTPClient()
        // The whole attempt's deadline covers the lookup, which a loaded run's thread pool may delay.
        var configuration = WebhookClient.Configuration()
        configuration.timeout = .seconds(60)
        let client = WebhookClient(http: http, resolver: AddressResolver(), configuration: configuration)
        let event = ChangeEvent(
            sequence: 1,
            eventID: UUID(),
            tenantID: "t",
            event: "agent_created",
            agentID: UUID(),
            taskID: nil,
            globalTaskID: nil,
            data: "{}",
            timestamp: Date()
        )
        for (url, kind) in Self.refusedURLs {
            let delivery = await client.post(event, to: url, secrets: ["whsec_x"], attempt: 1)
            #expect(delivery?.statusCode == nil, "\(url)")
            #expect(delivery?.error?.contains("a \(kind) address") == true, "\(url): \(delivery?.error ?? "no attempt")")
        }
        try await http.shutdown()
    }

    @Test func theTiersQuotaIsKeptAlsoUnderConcurrentRegistrations() async throws {
        try await TestSupport.app().test(.router) { client in
            let free = try await Caller.make(client, tenant: TestSupport.tenant())
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<4 {
                    group.addTask {
                        Int(try await free.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/\#(n)","events":["*"]}"#).status.code)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.sorted() == [201, 403, 403, 403])
            let refused = try await free.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/x","events":["*"]}"#)
            #expect(try refused.errorCode == "AMS-207" && refused.json()["error"]?["details"]?["max_webhooks"] == .int(1))
            let tenant = try await TestSupport.tenant(on: .advance, client)
            let advance = try await Caller.make(client, tenant: tenant)
            for n in 0..<3 {
                #expect(
                    try await advance.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/\#(n)","events":["*"]}"#).status == .created
                )
            }
            #expect(try await advance.send(.post, "/v1/webhooks", json: #"{"url":"https://example.com/3","events":["*"]}"#).errorCode == "AMS-207")
            #expect(try await advance.send(.get, "/v1/tenant").json()["limits"]?["max_webhooks"] == .int(3))
        }
    }
}

/// Deliveries to a real receiver. Each test has a database of its own, whose notifier its
/// application leads, and runs alone: the deliveries are timed by the retry schedule.
@Suite(.serialized) struct WebhookDeliveryTests {
    private func configuration(
        allowPrivate: Bool = true,
        schedule: [Duration] = [.milliseconds(200), .milliseconds(400)]
    ) async throws -> AppConfiguration {
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.webhookAllowPrivate = allowPrivate
        config.webhookRetrySchedule = RetrySchedule(delays: schedule)
        return config
    }

    private func register(_ admin: Caller, _ url: String, events: String = #"["*"]"#) async throws -> (id: String, secret: String) {
        let response = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(url)","events":\#(events)}"#)
        try #require(response.status == .created, "\(String(buffer: response.body))")
        let body = try response.json()
        return (body.id, try #require(body["secret"]?.stringValue))
    }

    @Test func aReceiverThatFailsAtFirstGetsEveryEventSignedAndInOrder() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.update { $0.answers = [500, 503] }
        let config = try await configuration(schedule: [.milliseconds(200), .milliseconds(400), .milliseconds(800)])
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .advance, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let hook = try await register(admin, receiver.url(), events: #"["agent_created","agent_updated"]"#)
            let agent = try await admin.create("Hooked")
            for n in 1...3 { #expect(try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"v\#(n)"}"#).status == .ok) }
            // Not subscribed: never sent.
            #expect(try await admin.send(.post, "/v1/agents/\(agent.id)/status", json: #"{"status":"active"}"#).status == .ok)

            #expect(try await eventually(20) { receiver.received.count >= 6 })
            try await Task.sleep(for: .milliseconds(500))
            let received = receiver.received
            #expect(received.count == 6, "two failed attempts, then four events once each")
            for delivery in received {
                #expect(WebhookReceiver.verify(delivery, secret: hook.secret), "signature of \(delivery.event ?? "?")")
                #expect(!WebhookReceiver.verify(delivery, secret: WebhookSecret.make()))
                #expect(delivery.event == delivery.json?["event"]?.stringValue && delivery.deliveryID == delivery.json?["event_id"]?.stringValue)
                #expect(delivery.json?["tenant_id"] == .string(tenant) && delivery.json?["service"] == .string("agent-management-service"))
            }
            #expect(
                received.map { $0.event ?? "" } == [
                    "agent_created", "agent_created", "agent_created", "agent_updated", "agent_updated", "agent_updated",
                ]
            )
            #expect(Set(received.prefix(3).map(\.deliveryID)).count == 1, "the same event retried")
            #expect(received.suffix(3).compactMap { $0.json?["data"]?["version"]?.int } == [2, 3, 4], "in order")

            let attempts = try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries").json()["items"]?.items() ?? []
            #expect(attempts.count == 6)
            let first = attempts.suffix(3).reversed().map { ($0["attempt"]?.int, $0["status_code"]?.int, $0["succeeded"]) }
            #expect(
                first.map(\.0) == [1, 2, 3] && first.map(\.1) == [500, 503, 200] && first.map(\.2) == [.bool(false), .bool(false), .bool(true)]
            )
            #expect(attempts.last?["error"] == .string("answered 500") && attempts.first?["error"] == .null)
            let page = try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries?limit=4").json()
            let cursor = try #require(page["next_cursor"]?.stringValue)
            #expect(try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries?cursor=\(cursor)").json()["items"]?.items().count == 2)
            #expect(try await admin.send(.get, "/v1/webhooks/\(hook.id)").json()["consecutive_failures"] == .int(0))
        }
    }

    @Test func anEventWhoseAttemptsRunOutIsGivenUpAndTheNextOneGoes() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.update { $0.answers = [500, 500, 500] }
        let config = try await configuration(schedule: [.milliseconds(100), .milliseconds(100)])
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let hook = try await register(admin, receiver.url(), events: #"["agent_created"]"#)
            _ = try await admin.create("First")
            _ = try await admin.create("Second")
            #expect(try await eventually(15) { receiver.received.count >= 4 })
            let names = receiver.received.map { $0.json?["data"]?["agent_name"]?.stringValue ?? "" }
            #expect(names == ["First", "First", "First", "Second"], "three attempts at the first, then the second")
            // The receiver has the fourth request before the dispatcher records its answer.
            func attemptsSoFar() async throws -> [JSONValue] {
                try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries").json()["items"]?.items().reversed() ?? []
            }
            #expect(try await eventually(10) { try await attemptsSoFar().count >= 4 })
            let attempts = try await attemptsSoFar()
            #expect(attempts.map { $0["attempt"]?.int } == [1, 2, 3, 1], "the next event starts again at attempt 1")
            #expect(attempts.map { $0["status_code"]?.int } == [500, 500, 500, 200])
            #expect(try await admin.send(.get, "/v1/webhooks/\(hook.id)").json()["consecutive_failures"] == .int(0), "the success reset the count")
        }
    }

    @Test func aSlowAnswerOrARedirectIsAFailedAttempt() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.update { s in
            s.slow = [.seconds(3)]
            s.answers = [200, 302]
        }
        var config = try await configuration()
        config.webhookTimeout = .milliseconds(500)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let hook = try await register(admin, receiver.url(), events: #"["agent_created"]"#)
            _ = try await admin.create("Patient")
            #expect(try await eventually(20) { receiver.received.count >= 3 })
            let attempts = try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries").json()["items"]?.items().reversed() ?? []
            #expect(attempts.map { $0["status_code"] ?? .null } == [.null, .int(302), .int(200)])
            #expect(attempts.first?["error"]?.stringValue?.hasPrefix("no answer within") == true)
            try await Task.sleep(for: .milliseconds(300))
            #expect(!receiver.received.contains { $0.path == "/elsewhere" }, "the redirect was not followed")
        }
    }

    /// The deadline covers the whole attempt: an answer whose body trickles in is given up at the
    /// deadline, one that never ends is read no further than the bound (and counts as answered),
    /// and an endpoint that hangs holds back no other.
    @Test func aTricklingOrEndlessAnswerIsBoundedAndHoldsBackNoOne() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.update { $0.bodies = ["/trickle": .trickle, "/endless": .endless] }
        var config = try await configuration(schedule: [.seconds(30)])
        config.webhookTimeout = .seconds(1)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .advance, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let trickle = try await register(admin, receiver.url("trickle"), events: #"["agent_created"]"#)
            let endless = try await register(admin, receiver.url("endless"), events: #"["agent_created"]"#)
            let healthy = try await register(admin, receiver.url("healthy"), events: #"["agent_created"]"#)
            let started = ContinuousClock.now
            _ = try await admin.create("Bounded")
            #expect(try await eventually(10) { receiver.received.contains { $0.path == "/healthy" } })
            #expect(ContinuousClock.now - started < .seconds(5), "the healthy endpoint did not wait for the others")
            func attempts(_ id: String) async throws -> [JSONValue] {
                try await admin.send(.get, "/v1/webhooks/\(id)/deliveries").json()["items"]?.items() ?? []
            }
            #expect(
                try await eventually(10) {
                    let slow = try await attempts(trickle.id)
                    let long = try await attempts(endless.id)
                    return !slow.isEmpty && !long.isEmpty
                }
            )
            let slow = try #require(try await attempts(trickle.id).first)
            #expect(slow["status_code"] == .null && slow["error"]?.stringValue?.hasPrefix("no answer within") == true)
            #expect((slow["latency_ms"]?.numberValue ?? 0) < 4000, "given up near the 1 s deadline, not after the trickle")
            let long = try #require(try await attempts(endless.id).first)
            #expect(long["status_code"] == .int(200) && long["succeeded"] == .bool(true))
            #expect(try await attempts(healthy.id).first?["succeeded"] == .bool(true))
        }
    }

    /// A worker whose lease another took (it ran out, or a PATCH changed the endpoint) records what
    /// it did but moves nothing; a PATCH that changes nothing leaves the worker be; a new url starts
    /// clean; a PATCH changes only the fields it names.
    @Test func aStaleWorkerMovesNothingAndAPatchKeepsWhatItDoesNotName() async throws {
        let config = try await configuration()
        var quiet = config
        quiet.webhooks = false
        try await buildApplication(quiet, logger: makeLogger(quiet)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let hook = try await register(admin, "http://127.0.0.1:9/hook")
            _ = try await admin.create("Leased")
            @Sendable func shown() async throws -> JSONValue { try await admin.send(.get, "/v1/webhooks/\(hook.id)").json() }
            try await withDatabase(config.databaseURL) { pg in
                let store = PostgresStores(client: pg, defaultTier: .free, logger: Logger(label: "test")).webhooks
                let claim = try await store.claimWebhooks(limit: 10, lease: .seconds(60))
                let first = try #require(claim.jobs.first)
                let event = try #require(try await store.webhookEvents(tenant: tenant, after: first.delivered, limit: 10).first)
                #expect(claim.behind == event.sequence - 1, "the lag counts up to the first event not delivered")
                #expect(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.isEmpty, "leased: nobody else gets it")
                #expect(try await admin.send(.patch, "/v1/webhooks/\(hook.id)", json: #"{"status":"active"}"#).status == .ok)
                #expect(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.isEmpty, "a PATCH that changes nothing keeps the lease")

                func attempt(_ status: Int, _ n: Int) -> WebhookDelivery {
                    WebhookDelivery(
                        eventID: event.eventID,
                        event: event.event,
                        sequence: event.sequence,
                        attempt: n,
                        attemptedAt: Date(),
                        statusCode: status,
                        latencyMs: 1,
                        error: status == 200 ? nil : "answered \(status)"
                    )
                }
                #expect(
                    try await store.recordAttempt(first, attempt(500, 1), skipped: first.delivered, schedule: RetrySchedule(delays: [.seconds(60)]))
                        == .retry
                )
                #expect(try await shown()["consecutive_failures"] == .int(1))
                #expect(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.isEmpty, "not due for a minute")
                // Another url starts clean and is due at once.
                #expect(try await admin.send(.patch, "/v1/webhooks/\(hook.id)", json: #"{"url":"http://127.0.0.1:10/hook"}"#).status == .ok)
                #expect(try await shown()["consecutive_failures"] == .int(0))
                let second = try #require(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.first)
                #expect(second.url == "http://127.0.0.1:10/hook" && second.lease != first.lease && second.attempts == 0)
                // The first worker, late, moves nothing.
                #expect(try await store.recordAttempt(first, attempt(200, 2), skipped: first.delivered, schedule: RetrySchedule(delays: [])) == .stop)
                try await store.releaseWebhook(first, through: event.sequence)
                #expect(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.isEmpty, "the stale release freed nothing")
                #expect(
                    try await store.webhookEvents(tenant: tenant, after: second.delivered, limit: 10).first?.eventID == event.eventID,
                    "the stale worker's success moved no position"
                )
                #expect(
                    try await store.recordAttempt(second, attempt(200, 1), skipped: second.delivered, schedule: RetrySchedule(delays: [])) == .next
                )
            }
            #expect(try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries").json()["items"]?.items().count == 3, "every attempt is listed")
            // Disabled, a description-only PATCH leaves it disabled.
            #expect(try await admin.send(.patch, "/v1/webhooks/\(hook.id)", json: #"{"status":"disabled"}"#).status == .ok)
            let described = try await admin.send(.patch, "/v1/webhooks/\(hook.id)", json: #"{"description":"still off"}"#).json()
            #expect(described["status"] == .string("disabled") && described["disabled_reason"] == .string("user"))
            #expect(described["url"] == .string("http://127.0.0.1:10/hook") && described["events"] == .array([.string("*")]))
        }
    }

    @Test func a410DisablesTheEndpointAndTheTenantHearsOfIt() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let config = try await configuration()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .advance, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let gone = try await register(admin, receiver.url("gone"), events: #"["agent_created"]"#)
            let watcher = try await register(admin, receiver.url("watch"), events: #"["webhook_disabled"]"#)
            receiver.update { $0.answers = [410] }
            _ = try await admin.create("Unwanted")
            #expect(try await eventually(15) { receiver.received.contains { $0.path == "/watch" } })
            let shown = try await admin.send(.get, "/v1/webhooks/\(gone.id)").json()
            #expect(shown["status"] == .string("disabled") && shown["disabled_reason"] == .string("gone"))
            let notice = try #require(receiver.received.first { $0.path == "/watch" })
            #expect(WebhookReceiver.verify(notice, secret: watcher.secret))
            #expect(notice.json?["data"]?["webhook_id"] == .string(gone.id) && notice.json?["data"]?["reason"] == .string("gone"))
            #expect(receiver.received.filter { $0.path == "/gone" }.count == 1, "no retry after 410")

            // Made active again, it resumes with the event it stopped at.
            #expect(try await admin.send(.patch, "/v1/webhooks/\(gone.id)", json: #"{"status":"active"}"#).status == .ok)
            #expect(try await eventually(15) { receiver.received.filter { $0.path == "/gone" }.count == 2 })
            #expect(receiver.received.last { $0.path == "/gone" }?.json?["data"]?["agent_name"] == .string("Unwanted"))
        }
    }

    @Test func twentyFailuresInARowDisableTheEndpoint() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.update { $0.answers = Array(repeating: 500, count: 100) }
        let config = try await configuration(schedule: Array(repeating: .milliseconds(10), count: 30))
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let hook = try await register(admin, receiver.url())
            _ = try await admin.create("Doomed")
            #expect(try await eventually(20) { try await admin.send(.get, "/v1/webhooks/\(hook.id)").json()["status"] == .string("disabled") })
            let shown = try await admin.send(.get, "/v1/webhooks/\(hook.id)").json()
            #expect(shown["disabled_reason"] == .string("failures") && shown["consecutive_failures"] == .int(20))
            try await Task.sleep(for: .milliseconds(300))
            #expect(receiver.received.count == 20)
            #expect(try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries?limit=200").json()["items"]?.items().count == 20)
        }
    }

    /// The guard runs again at delivery, after resolving the name: an endpoint that reaches a
    /// refused address (here stored past the registration check) gets nothing.
    @Test func aDeliveryToARefusedAddressIsNotMade() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let config = try await configuration(allowPrivate: false, schedule: [.milliseconds(100)])
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let id = UUID()
            let url = "http://localhost:\(receiver.port)/hook"
            try await asSuperuser(config.databaseURL) { conn in
                try await conn.query(
                    """
                    INSERT INTO webhooks (tenant_id, id, url, events, secret, delivered)
                    SELECT \(tenant), \(id), \(url), ARRAY['*'], 'whsec_x', last FROM outbox_counter
                    """,
                    logger: Logger(label: "test")
                )
            }
            _ = try await admin.create("Guarded")
            var attempts: [JSONValue] = []
            #expect(
                try await eventually(15) {
                    attempts = try await admin.send(.get, "/v1/webhooks/\(id.uuidString.lowercased())/deliveries").json()["items"]?.items() ?? []
                    return attempts.count >= 2
                }
            )
            #expect(attempts.allSatisfy { $0["status_code"] == JSONValue.null && $0["error"]?.stringValue?.contains("a loopback address") == true })
            #expect(receiver.received.isEmpty)
        }
    }
}
