import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import RedisTestSupport
import ServiceLifecycle
import Synchronization
import Testing

@testable import App
@testable import Infra

/// Committed changes reach the tenant's Redis notifications stream and channel, in the envelope,
/// in commit order, and nothing is skipped while Redis is away. Each test has a database of its
/// own: the sink's delivered position is shared by every replica of a database.
@Suite struct EventTests {
    @Test func everyKindOfChangeArrivesInTheEnvelope() async throws {
        let q = try await TestQueues()
        var config = try q.configuration()
        config.databaseURL = try await TestSupport.freshDatabase()
        config.notifyRedis = true
        config.eventLeader = true
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let published = Mutex<[String]>([])
            let subscriber = try await RedisConnection.connect(
                to: try RedisURL(q.url),
                timeout: .seconds(2),
                on: MultiThreadedEventLoopGroup.singleton
            ) { push in
                if case .array(let parts) = push, parts.count == 3, parts[0].string == "message", let body = parts[2].string {
                    published.withLock { $0.append(body) }
                }
            }.get()
            defer { subscriber.close() }
            _ = try await subscriber.send([["SUBSCRIBE", RedisEventSink.key(tenant)]], timeout: .seconds(2)).get()
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"professional"}"#).status == .ok)

            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Announced", #""llm_config":{"model":"gpt-4.1"}"#)
            let id = try #require(agent["id"]?.stringValue)
            #expect(try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"now described"}"#).status == .ok)
            #expect(try await admin.send(.post, "/v1/agents/\(id)/status", json: #"{"status":"active","reason":"ready"}"#).status == .ok)
            // advance does not allow gpt-4.1: the re-validation task marks the agent invalid.
            #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"advance"}"#).status == .ok)
            #expect(
                try await eventually(15) {
                    try await admin.send(.get, "/v1/agents/\(id)").json()["validation"]?["status"] == .string("invalid")
                }
            )
            #expect(try await admin.send(.delete, "/v1/agents/\(id)").status == .noContent)
            #expect(try await admin.send(.post, "/v1/agents/\(id)/restore").status == .ok)
            let template = try await admin.send(
                .post,
                "/v1/templates",
                json: #"{"name":"Triage","category":"support","type":"conversational","config":{"llm_config":{"model":"gpt-4o-mini"}}}"#
            ).json()
            let templateID = try #require(template["id"]?.stringValue)
            #expect(try await admin.send(.patch, "/v1/templates/\(templateID)", json: #"{"description":"v2"}"#).status == .ok)
            let draft = try await q.run(client, tenant, .agentValidate, ["config": .object(["name": .string("Draft")])])
            let draftTask = try #require(draft["task_id"]?.stringValue)

            var events: [JSONValue] = []
            #expect(
                try await eventually(15) {
                    events = try await streamed(tenant, q.redis)
                    return events.contains { $0["event"] == .string("task_completed") && $0["task_id"]?.stringValue == draftTask }
                },
                "every event reached the stream"
            )
            let agentEvents = events.filter { $0["data"]?["agent_id"]?.stringValue == id && $0["event"]?.stringValue?.hasPrefix("agent_") == true }
            #expect(
                agentEvents.map { $0["event"]?.stringValue ?? "" } == [
                    "agent_created", "agent_updated", "agent_status_changed", "agent_validated", "agent_deleted", "agent_restored",
                ]
            )
            let byName = Dictionary(agentEvents.map { ($0["event"]?.stringValue ?? "", $0["data"] ?? .null) }, uniquingKeysWith: { a, _ in a })
            #expect(
                byName["agent_created"]
                    == .object([
                        "agent_id": .string(id), "agent_name": .string("Announced"), "agent_type": agent["type"] ?? .null, "version": .int(1),
                        "status": .string("draft"),
                    ])
            )
            #expect(byName["agent_updated"]?["version"] == .int(2) && byName["agent_updated"]?["agent_name"] == .string("Announced"))
            #expect(
                byName["agent_updated"]?["changes"]
                    == .array([.object(["op": .string("replace"), "path": .string("/description"), "value": .string("now described")])])
            )
            #expect(
                byName["agent_status_changed"]
                    == .object([
                        "agent_id": .string(id), "agent_name": .string("Announced"), "from": .string("draft"), "to": .string("active"),
                        "reason": .string("ready"),
                    ])
            )
            #expect(byName["agent_validated"]?["status"] == .string("invalid") && byName["agent_validated"]?["issues"]?.arrayValue?.isEmpty == false)
            #expect(byName["agent_validated"]?["agent_name"] == .string("Announced"))
            #expect(byName["agent_deleted"] == .object(["agent_id": .string(id), "agent_name": .string("Announced")]))
            #expect(byName["agent_restored"] == .object(["agent_id": .string(id), "agent_name": .string("Announced")]))

            let validated = try #require(agentEvents.first { $0["event"] == .string("agent_validated") })
            #expect(validated["task_id"]?.stringValue != nil, "a change made by a task names the task")
            let templateEvents = events.filter { $0["data"]?["template_id"]?.stringValue == templateID }
            #expect(templateEvents.map { $0["event"]?.stringValue ?? "" } == ["agent_template_created", "template_updated"])
            #expect(
                templateEvents.last?["data"]
                    == .object([
                        "template_id": .string(templateID), "template_name": .string("Triage"), "category": .string("support"), "version": .int(2),
                    ])
            )
            let draftEvents = events.filter { $0["task_id"]?.stringValue == draftTask }.map { $0["event"]?.stringValue ?? "" }
            #expect(draftEvents == ["task_status_update", "validation_complete", "task_completed"])

            // The envelope: fixed names, one event id each, sequences rising with commits.
            for event in events {
                #expect(event["service"] == .string("agent-management-service") && event["tenant_id"] == .string(tenant))
                #expect(event["event_id"]?.stringValue.flatMap(UUID.init(uuidString:)) != nil)
                #expect(event["timestamp"]?.stringValue?.hasSuffix("Z") == true)
                #expect(
                    event.objectValue.map { Set($0.keys) } == [
                        "event", "service", "event_id", "sequence", "task_id", "global_task_id", "tenant_id", "timestamp", "data",
                    ]
                )
            }
            let sequences = events.compactMap { $0["sequence"]?.numberValue }
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
            #expect(Set(events.compactMap { $0["event_id"]?.stringValue }).count == events.count)

            // Live listeners on the channel of the same name get the same envelopes.
            #expect(try await eventually(5) { published.withLock { $0.count } >= events.count })
            let live = published.withLock { $0 }.compactMap { JSONValue.parse(Array($0.utf8)) }
            #expect(live.map { $0["event_id"] } == events.map { $0["event_id"] })
        }
    }

    @Test func eventsWaitForRedisAndArriveInOrderWhenItIsBack() async throws {
        let server = try PrivateRedis(appendOnly: true)
        try await server.start()
        defer { server.stop() }
        var config = try TestSupport.configuration()
        config.databaseURL = try await TestSupport.freshDatabase()
        config.redisURL = "redis://127.0.0.1:\(server.port)"
        config.redisTimeout = .milliseconds(500)
        config.notifyRedis = true
        config.eventLeader = true
        config.taskConsumer = false
        let redis = RedisClient(configuration: .init(url: try RedisURL(config.redisURL)), logger: Logger(label: "test"))
        defer { redis.close() }
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .enterprise, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let first = try #require(try await admin.create("Before")["id"]?.stringValue)
            #expect(try await eventually(10) { try await streamed(tenant, redis).count == 1 })

            server.stop()
            let agents = [first, try #require(try await admin.create("During")["id"]?.stringValue)]
            // Two agents patched in turn, concurrently with each other.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for agent in agents {
                    group.addTask {
                        for n in 1...10 {
                            let response = try await admin.send(.patch, "/v1/agents/\(agent)", json: #"{"description":"\#(n)"}"#)
                            #expect(response.status == .ok, "CRUD keeps working while Redis is away")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(
                try await eventually(10) {
                    let ready = try await client.execute(uri: "/health/ready", method: .get).json()
                    return (ready["components"]?["notifier"]?["sinks"]?["redis"]?["lag"]?.numberValue ?? 0) >= 21
                },
                "readiness shows what the sink has yet to deliver"
            )

            try await server.start()
            var events: [JSONValue] = []
            #expect(
                try await eventually(20) {
                    events = (try? await streamed(tenant, redis)) ?? []
                    return Set(events.compactMap { $0["event_id"]?.stringValue }).count == 22
                },
                "every event arrived once Redis was back"
            )
            for agent in agents {
                let versions = events.filter { $0["data"]?["agent_id"]?.stringValue == agent }.compactMap { $0["data"]?["version"]?.numberValue }
                #expect(versions == versions.sorted(), "one agent's events keep their order")
                #expect(Set(versions).count == 11)
            }
            #expect(
                try await eventually(10) {
                    let ready = try await client.execute(uri: "/health/ready", method: .get).json()
                    let sinks = ready["components"]?["notifier"]?["sinks"]
                    return sinks?["redis"]?["lag"] == .int(0) && sinks?["subscribers"]?["lag"] == .int(0)
                },
                "each sink's lag is shown, the tenant WebSocket sink's too"
            )
        }
    }
}

extension EventTests {
    /// Two replicas: one leads (sequences and feeds Redis), the other follows; when the leader
    /// stops, the other takes over within seconds and goes on from the delivered position.
    /// The leader runs first, as a service the test can stop, so which replica leads is not a race.
    @Test func anotherReplicaTakesOverWhenTheLeaderStops() async throws {
        let q = try await TestQueues()
        var config = try q.configuration()
        config.databaseURL = try await TestSupport.freshDatabase()
        config.notifyRedis = true
        config.eventLeader = true
        config.taskConsumer = false
        config.port = 0
        var first = config
        first.replicaName = "leader-" + UUID().uuidString
        let leaderName = first.replicaName
        let leader = try await buildApplication(first, logger: makeLogger(first))
        let follower = try await buildApplication(config, logger: makeLogger(config))
        @Sendable func leads(_ client: any TestClientProtocol) async throws -> Bool {
            try await client.execute(uri: "/health/ready", method: .get).json()["components"]?["notifier"]?["leader"] == .bool(true)
        }
        @Sendable func names(_ tenant: TenantID) async throws -> [String] {
            // At least once: a repeat (the same event id) counts once.
            var seen = Set<String>()
            return try await streamed(tenant, q.redis).filter { seen.insert($0["event_id"]?.stringValue ?? "").inserted }
                .compactMap { $0["data"]?["agent_name"]?.stringValue }
        }
        try await asSuperuser(config.databaseURL) { pg in
            @Sendable func firstLeads() async throws -> Bool {
                let rows = try await pg.query(
                    """
                    SELECT count(*)::int FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE l.locktype = 'advisory' AND l.granted AND l.objid = \(Int64(PostgresEventStore.notifierLock))::oid
                      AND a.application_name = \("ams-listener:" + leaderName)
                    """,
                    logger: Logger(label: "test")
                )
                for try await n in rows.decode(Int.self) { return n == 1 }
                return false
            }
            let running = Task {
                try await ServiceGroup(configuration: .init(services: [leader], logger: Logger(label: "test"))).run()
            }
            defer { running.cancel() }
            #expect(try await eventually(20) { try await firstLeads() })
            try await follower.test(.router) { followerClient in
                #expect(try await !leads(followerClient), "one replica leads")
                let tenant = try await TestSupport.tenant(on: .enterprise, followerClient)
                let admin = try await Caller.make(followerClient, tenant: tenant)
                // Written on the follower, announced by the leader.
                for n in 1...3 { _ = try await admin.create("Agent \(n)") }
                #expect(try await eventually(10) { try await names(tenant).count == 3 })
                // The leader stops: its lock goes with its connection.
                running.cancel()
                _ = await running.result
                #expect(try await eventually(10) { try await leads(followerClient) }, "the other replica leads within seconds")
                #expect(try await !firstLeads())
                for n in 4...5 { _ = try await admin.create("Agent \(n)") }
                #expect(try await eventually(10) { try await names(tenant).count == 5 })
                #expect(try await names(tenant) == (1...5).map { "Agent \($0)" }, "each once, in order")
            }
        }
    }
}

/// Runs `body` on a connection of a superuser to the database `databaseURL` names.
func asSuperuser<R: Sendable>(_ databaseURL: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
    guard let admin = ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"] else { throw TestSupport.ConfigurationMissing() }
    var parts = URLComponents(string: admin)!
    parts.path = URLComponents(string: databaseURL)!.path
    let client = PostgresClient(configuration: try .init(url: parts.string!))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await client.withConnection { try await body($0) }
    }
}

/// The envelopes in the tenant's notifications stream, oldest first.
private func streamed(_ tenant: TenantID, _ redis: RedisClient) async throws -> [JSONValue] {
    let entries = RedisClient.entries(try await redis.send("XRANGE", RedisEventSink.key(tenant), "-", "+"))
    return entries.compactMap { $0.fields?["message"].flatMap { JSONValue.parse(Array($0.utf8)) } }
}
