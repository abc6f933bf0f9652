import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import PostgresNIO
import Testing
import Yams

@testable import App

/// The metrics that the alert rules (`deploy/prometheus/alerts.yaml`) and the dashboard
/// (`deploy/grafana/agent-management.json`) read: all there from the start, and moving with what
/// they tell of.
@Suite struct AlertMetricsTests {
    @Test func everyMetricTheRulesAndTheDashboardReadIsThereBeforeAnyTraffic() async throws {
        let names = try Self.ruleMetricNames().union(Self.dashboardMetricNames())
        #expect(
            names.isSuperset(of: [
                "http_requests_total", "http_request_duration_seconds_bucket", "ams_database_breaker_openings_total",
                "ams_listener_connected", "ams_listener_disconnects_total", "ams_event_sink_lag", "ams_orchestrator_link",
                "ams_webhook_endpoints_disabled_total", "ams_task_entries_dead_lettered_total", "ams_tasks_total",
                "ams_agent_cache_hits_total", "ams_task_queue_depth",
            ]),
            "\(names.sorted())"
        )
        try await TestSupport.app().test(.router) { client in
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            let types = Self.types(text)
            for name in names.sorted() {
                #expect(Self.isExported(name, types), "\(name) is not at /metrics")
            }
            // Routes and server errors are known at start: their series wait at zero.
            #expect(ObservabilityTests.value(text, #"http_requests_total{method="GET",route="/v1/agents/{id}",status="500"}"#) == 0)
            #expect(ObservabilityTests.value(text, #"http_requests_total{method="POST",route="/v1/agents",status="503"}"#) == 0)
            #expect(ObservabilityTests.value(text, #"http_request_duration_seconds_count{method="GET",route="/v1/agents/{id}"}"#) == 0)
            #expect(ObservabilityTests.value(text, #"ams_task_queue_depth{queue="tasks"}"#) == 0)
            #expect(ObservabilityTests.value(text, #"ams_orchestrator_link{state="off"}"#) == 1)
            #expect(ObservabilityTests.value(text, #"ams_orchestrator_link{state="connected"}"#) == 0)
        }
    }

    /// A sink records its lag when it delivers; one that is stuck delivers nothing, and `/metrics`
    /// still shows its lag growing.
    @Test func aStuckSinksLagKeepsGrowing() {
        let feed = EventFeed()
        let metrics = AppMetrics(feed: feed)
        feed.publish(10)
        feed.report("webhooks", delivered: 4)
        metrics.eventLag("webhooks").record(6)
        feed.publish(25)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(ObservabilityTests.value(text, #"ams_event_sink_lag{sink="webhooks"}"#) == 21)
    }

    @Test func aLostListenerConnectionIsCountedOnce() async throws {
        let config = try TestSupport.configuration()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            try await waitUntilListening(admin)
            #expect(try await Self.value(client, "ams_listener_disconnects_total") == 0)
            try await withDatabase { pg in
                // Only this replica's listener: other suites run in parallel against the same server.
                let terminated = try await pg.query(
                    """
                    SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity
                    WHERE application_name = \("ams-listener:" + config.replicaName)
                    """
                )
                for try await n in terminated.decode(Int.self) { #expect(n == 1) }
            }
            #expect(try await eventually { try await Self.value(client, "ams_listener_disconnects_total") == 1 })
            try await waitUntilListening(admin)
            #expect(try await Self.value(client, "ams_listener_connected") == 1)
            #expect(try await Self.value(client, "ams_listener_disconnects_total") == 1)
        }
    }

    /// The sweep reads every queue's length: entries queued while no replica listened are the
    /// queues' depth.
    @Test func theSweepMeasuresTheTaskQueuesDepth() async throws {
        let q = try await TestQueues()
        let tenant = TestSupport.tenant()
        for _ in 0..<3 {
            let task = TaskMessage(tenantID: tenant, type: .sync)
            try await q.redis.xadd(TaskQueue.tasks.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
        }
        let validation = TaskMessage(tenantID: tenant, type: .sync)
        try await q.redis.xadd(TaskQueue.validation.key(tenant), [("message", String(decoding: validation.json.encoded, as: UTF8.self))])
        try await q.app().test(.router) { client in
            let measured = try await eventually {
                let tasks = try await Self.value(client, #"ams_task_queue_depth{queue="tasks"}"#)
                let validation = try await Self.value(client, #"ams_task_queue_depth{queue="validation"}"#)
                return tasks == 3 && validation == 1
            }
            #expect(measured)
            let templates = try await Self.value(client, #"ams_task_queue_depth{queue="templates"}"#)
            #expect(templates == 0)
        }
    }

    /// The value of one series at the application's `/metrics`, `series` as the registry writes it.
    static func value(_ client: any TestClientProtocol, _ series: String) async throws -> Double? {
        ObservabilityTests.value(String(buffer: try await client.execute(uri: "/metrics", method: .get).body), series)
    }

    /// Each metric family's type, from the exposition's `# TYPE` lines.
    static func types(_ exposition: String) -> [String: String] {
        var types: [String: String] = [:]
        for line in exposition.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let fields = line.split(separator: " ")
            if fields.count == 4 { types[String(fields[2])] = String(fields[3]) }
        }
        return types
    }

    /// A name is exported as a family, or as a histogram's `_bucket`, `_count` or `_sum` series.
    static func isExported(_ name: String, _ types: [String: String]) -> Bool {
        if types[name] != nil { return true }
        return ["_bucket", "_count", "_sum"].contains { suffix in
            name.hasSuffix(suffix) && types[String(name.dropLast(suffix.count))] == "histogram"
        }
    }

    static func ruleMetricNames() throws -> Set<String> {
        let text = try String(contentsOfFile: TestSupport.root + "/deploy/prometheus/alerts.yaml", encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let groups = try #require(document["groups"] as? [[String: Any]])
        let expressions = groups.flatMap { ($0["rules"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count >= 8)
        return try expressions.reduce(into: []) { $0.formUnion(try metricNames(in: $1)) }
    }

    static func dashboardMetricNames() throws -> Set<String> {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestSupport.root + "/deploy/grafana/agent-management.json"))
        var expressions: [String] = []
        func collect(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, field) in object {
                    if key == "expr", let expr = field as? String { expressions.append(expr) } else { collect(field) }
                }
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(try JSONSerialization.jsonObject(with: data))
        #expect(expressions.count >= 7)
        return try expressions.reduce(into: []) { $0.formUnion(try metricNames(in: $1)) }
    }

    /// The metric names a PromQL expression reads: what is left once strings, label matchers,
    /// ranges, grouping labels and Grafana's variables are taken out, less functions (a name
    /// followed by `(`) and keywords.
    static func metricNames(in expression: String) throws -> Set<String> {
        var text = expression
        let removed = [
            #""(?:[^"\\]|\\.)*""#, #"\{[^}]*\}"#, #"\[[^\]]*\]"#,
            #"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#, #"\$\{?\w+\}?"#,
        ]
        for pattern in removed {
            text = try NSRegularExpression(pattern: pattern)
                .stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: " ")
        }
        let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"]
        let name = try NSRegularExpression(pattern: #"(?<![\w.:])[A-Za-z_:][\w:]*+(?!\s*\()"#)
        let matches = name.matches(in: text, range: NSRange(text.startIndex..., in: text))
        return Set(matches.compactMap { Range($0.range, in: text).map { String(text[$0]) } }).subtracting(keywords)
    }
}

/// The gauges and counters of the parts that run on the notifier's leader, each test over a
/// database of its own.
@Suite(.serialized) struct LeaderAlertMetricsTests {
    @Test func theOrchestratorLinkStateIsOneHot() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.orchestratorURL = standIn.url
        config.serviceToken = StandInOrchestrator.token
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            // Each state's value, from one reading of `/metrics`.
            func states() async throws -> [String: Double] {
                let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                return LinkStatus.State.allCases.reduce(into: [:]) { states, state in
                    states[state.rawValue] = ObservabilityTests.value(text, #"ams_orchestrator_link{state="\#(state.rawValue)"}"#)
                }
            }
            let connected = try await eventually { try await states()["connected"] == 1 }
            try #require(connected, "the orchestrator link never connected")
            #expect(try await states() == ["connected": 1, "off": 0, "authenticating": 0, "backing_off": 0])
            standIn.update { $0.down = true }
            let down = try await eventually {
                let states = try await states()
                return states["connected"] == 0 && (states["backing_off"] ?? 0) + (states["authenticating"] ?? 0) == 1
            }
            #expect(down, "connected, or in no state or two")
        }
    }

    @Test func anEndpointTheServiceDisablesIsCounted() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.webhookAllowPrivate = true
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .advance, client))
            let registered = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(receiver.url("gone"))","events":["agent_created"]}"#)
            try #require(registered.status == .created)
            #expect(try await AlertMetricsTests.value(client, "ams_webhook_endpoints_disabled_total") == 0)
            receiver.update { $0.answers = [410] }
            _ = try await admin.create("Unwanted")
            #expect(try await eventually(15) { try await AlertMetricsTests.value(client, "ams_webhook_endpoints_disabled_total") == 1 })
        }
    }
}
