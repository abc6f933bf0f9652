import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

/// Webhook positions: a filtered endpoint's moves past what it does not want, the purge keeps what
/// an active endpoint has yet to get, and an endpoint that lost events to the purge is told which.
/// Each test has a database of its own, whose notifier its application leads.
@Suite(.serialized) struct WebhookPositionTests {
    private let logger = Logger(label: "test")

    private func configuration(schedule: [Duration] = [.milliseconds(200)]) async throws -> AppConfiguration {
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.webhookAllowPrivate = true
        config.webhookRetrySchedule = RetrySchedule(delays: schedule)
        return config
    }

    private func register(_ admin: Caller, _ url: String, events: String) async throws -> String {
        let response = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(url)","events":\#(events)}"#)
        try #require(response.status == .created, "\(String(buffer: response.body))")
        return try response.json().id
    }

    /// Every event, and each shared sink's last move, two days older: as if the retention (a
    /// day) had passed over them (the sinks, which no test feeds, then hold nothing back).
    private func age(_ databaseURL: String) async throws {
        _ = try await asSuperuser(databaseURL) { conn in
            try await conn.query("UPDATE outbox SET created_at = created_at - interval '2 days'", logger: logger)
            try await conn.query("UPDATE outbox_sinks SET updated_at = updated_at - interval '2 days'", logger: logger)
        }
    }

    /// The purge, with a day's retention, as the leader runs it.
    private func purge(_ databaseURL: String) async throws -> Int {
        let client = PostgresClient(configuration: try .init(url: databaseURL))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = PostgresEventStore(database: PostgresDatabase(client: client, logger: logger))
            return try await store.purgeEvents(retention: .seconds(86_400))
        }
    }

    /// The tenant's sequenced events, oldest first (superuser: past Row-Level Security).
    private func sequences(_ databaseURL: String, tenant: String) async throws -> [Int64] {
        try await asSuperuser(databaseURL) { conn in
            var found: [Int64] = []
            let rows = try await conn.query(
                "SELECT sequence FROM outbox WHERE tenant_id = \(tenant) AND sequence IS NOT NULL ORDER BY sequence",
                logger: logger
            )
            for try await sequence in rows.decode(Int64.self) { found.append(sequence) }
            return found
        }
    }

    /// An endpoint that wants only `agent_deleted` is not behind by the updates it does not want:
    /// its lag, as a metric and in readiness, stays small while the tenant's agent is updated 150 times.
    @Test func aFilteredEndpointIsNotBehindByWhatItDoesNotWant() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let config = try await configuration()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            _ = try await register(admin, receiver.url(), events: #"["agent_deleted"]"#)
            let agent = try await admin.create("Busy")
            for n in 1...150 {
                try #require(try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"\#(n)"}"#).status == .ok)
            }
            var ready: JSONValue = .null
            var metric: Double?
            let settled = try await eventually(10) {
                ready = try await client.execute(uri: "/health/ready", method: .get).json()
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                metric = ObservabilityTests.value(metrics, #"ams_event_sink_lag{sink="webhooks"}"#)
                let notifier = ready["components"]?["notifier"]
                return (notifier?["sequence"]?.int ?? 0) >= 151 && (notifier?["sinks"]?["webhooks"]?["lag"]?.int ?? .max) < 10
                    && (metric ?? .infinity) < 10
            }
            #expect(settled, "readiness: \(ready), metric: \(metric.map { "\($0)" } ?? "none")")
            #expect(ready["status"] == .string("ready"))
            #expect(receiver.received.isEmpty, "nothing it wants came")

            #expect(try await admin.send(.delete, "/v1/agents/\(agent.id)").status == .noContent)
            #expect(try await eventually(10) { receiver.received.map(\.event) == ["agent_deleted"] }, "what it wants still comes")
        }
    }

    /// An endpoint waiting out its retry schedule keeps its events past the retention: the
    /// purge takes other tenants' old events, and the retry (made due at once) then delivers.
    @Test func thePurgeKeepsWhatAnActiveEndpointHasYetToGet() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.update { $0.answers = [500] }
        let config = try await configuration(schedule: [.seconds(60)])
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            _ = try await register(admin, receiver.url(), events: #"["agent_created"]"#)
            let other = TestSupport.tenant()
            _ = try await Caller.make(client, tenant: other).create("Unwatched")
            _ = try await admin.create("Kept")
            #expect(try await eventually(10) { receiver.received.count == 1 }, "the first attempt failed")
            let kept = try await sequences(config.databaseURL, tenant: tenant)
            #expect(try await eventually(10) { try await sequences(config.databaseURL, tenant: other).count == 1 })
            try await age(config.databaseURL)

            #expect(try await purge(config.databaseURL) >= 1)
            #expect(try await sequences(config.databaseURL, tenant: other).isEmpty, "the purge ran")
            #expect(try await sequences(config.databaseURL, tenant: tenant) == kept, "nothing the endpoint has yet to get went")
            _ = try await asSuperuser(config.databaseURL) { conn in
                try await conn.query("UPDATE webhooks SET next_attempt_at = now()", logger: logger)
            }
            #expect(try await eventually(15) { receiver.received.count == 2 }, "the retry delivered")
            let received = receiver.received
            #expect(received.map(\.event) == ["agent_created", "agent_created"] && received[0].deliveryID == received[1].deliveryID)
            #expect(received.last?.json?["data"]?["agent_name"] == .string("Kept"))
        }
    }

    /// A disabled endpoint whose events were purged hears, once resumed, which sequences it
    /// missed (`events_skipped`, signed and recorded like any event), then what came since.
    @Test func anEndpointResumedAfterAPurgeHearsWhatItMissed() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let config = try await configuration()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .advance, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let created = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(receiver.url())","events":["agent_created"]}"#)
            let hook = try created.json()
            let secret = try #require(hook["secret"]?.stringValue)
            #expect(try await admin.send(.patch, "/v1/webhooks/\(hook.id)", json: #"{"status":"disabled"}"#).status == .ok)
            _ = try await admin.create("Lost")
            _ = try await admin.create("Lost too")
            var lost: [Int64] = []
            #expect(
                try await eventually(10) {
                    lost = try await sequences(config.databaseURL, tenant: tenant)
                    return lost.count == 2
                }
            )
            try await age(config.databaseURL)
            #expect(try await purge(config.databaseURL) == 2)

            #expect(try await admin.send(.patch, "/v1/webhooks/\(hook.id)", json: #"{"status":"active"}"#).status == .ok)
            _ = try await admin.create("After")
            #expect(try await eventually(10) { receiver.received.count >= 2 })
            try await Task.sleep(for: .milliseconds(300))
            let received = receiver.received
            #expect(received.map(\.event) == ["events_skipped", "agent_created"])
            let skipped = try #require(received.first?.json)
            #expect(skipped["data"]?["from"]?.int == lost.first.map(Int.init) && skipped["data"]?["to"]?.int == lost.last.map(Int.init))
            #expect(skipped["sequence"]?.int == lost.last.map(Int.init) && skipped["tenant_id"] == .string(tenant))
            #expect(received.first.map { WebhookReceiver.verify($0, secret: secret) } == true)
            #expect(received.first?.deliveryID == skipped["event_id"]?.stringValue)
            #expect(received.last?.json?["data"]?["agent_name"] == .string("After"))
            let attempts = try await admin.send(.get, "/v1/webhooks/\(hook.id)/deliveries").json()["items"]?.items().reversed() ?? []
            #expect(attempts.map { $0["event"]?.stringValue } == ["events_skipped", "agent_created"])
        }
    }
}
