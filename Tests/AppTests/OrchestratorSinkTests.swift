import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing

@testable import App
@testable import Infra

/// Sink 1 against a stand-in orchestrator (a real WebSocket server): the handshake, the frames,
/// the backoff, confirmation by pong or ack, and one sender among replicas. Each test has a
/// database of its own: the confirmed position is shared by every replica of a database. One at
/// a time: each runs two or three applications, and the whole run shares two cores.
@Suite(.serialized) struct OrchestratorSinkTests {
    private func configuration(_ standIn: StandInOrchestrator) async throws -> AppConfiguration {
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.orchestratorURL = standIn.url
        config.serviceToken = StandInOrchestrator.token
        return config
    }

    @Test func everyChangeArrivesAsTheEnvelopeThenTheTenantChannelFrame() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        let config = try await configuration(standIn)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            #expect(try await eventually(10) { try await linkStatus(client) == "connected" })
            #expect(
                standIn.state.withLock { $0.hellos } == [
                    .object([
                        "service_token": .string(StandInOrchestrator.token), "service_name": .string("agent-management-service"),
                    ])
                ]
            )
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Announced")
            let id = try #require(agent["id"]?.stringValue)
            #expect(try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"now described"}"#).status == .ok)
            #expect(try await admin.send(.post, "/v1/agents/\(id)/status", json: #"{"status":"active","reason":"ready"}"#).status == .ok)
            #expect(try await admin.send(.delete, "/v1/agents/\(id)").status == .noContent)
            #expect(try await admin.send(.post, "/v1/agents/\(id)/restore").status == .ok)
            let template = try await admin.send(
                .post,
                "/v1/templates",
                json: #"{"name":"Triage","category":"support","type":"conversational","config":{"llm_config":{"model":"gpt-4o-mini"}}}"#
            ).json()
            let templateID = try #require(template["id"]?.stringValue)

            #expect(try await eventually(10) { standIn.envelopes.contains { $0["data"]?["template_id"]?.stringValue == templateID } })
            let frames = standIn.state.withLock { $0.frames.map(\.json) }
            let kinds = frames.filter { $0["event_id"] != nil }.map { $0["event"]?.stringValue ?? "" }
            #expect(kinds == ["agent_created", "agent_updated", "agent_status_changed", "agent_deleted", "agent_restored", "agent_template_created"])
            // Each agent event is followed by its tenant-channel frame; the template event is not.
            for (index, frame) in frames.enumerated() where frame["event_id"] != nil {
                #expect(
                    frame.objectValue.map { Set($0.keys) } == [
                        "event", "service", "event_id", "sequence", "task_id", "global_task_id", "tenant_id", "timestamp", "data",
                    ]
                )
                #expect(frame["tenant_id"] == .string(tenant) && frame["service"] == .string("agent-management-service"))
                guard frame["data"]?["agent_id"] != nil else { continue }
                // Every agent event names the agent, a status change too.
                #expect(
                    index + 1 < frames.count
                        && frames[index + 1]
                            == .object([
                                "channel": .string("tenant:\(tenant)"), "event": frame["event"] ?? .null,
                                "data": .object(["agent_id": .string(id), "agent_name": .string("Announced")]),
                            ])
                )
            }
            #expect(frames.count == 11, "five agent events with a channel frame each, one template event")
            // The pong to the ping after them confirms them: the stored position catches up.
            let sequences = frames.compactMap { $0["sequence"]?.numberValue }
            let newest = try #require(sequences.max())
            #expect(try await eventually(10) { try await confirmed(config) == Int64(newest) })
        }
    }

    @Test func aRefusedHandshakeIsTriedAgainWithAGrowingWait() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        standIn.update { $0.refuse = true }
        let config = try await configuration(standIn)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            #expect(try await eventually(15) { standIn.state.withLock { $0.attempts.count } >= 5 })
            let status = try await linkStatus(client)
            #expect(status == "backing_off" || status == "authenticating")
            let (attempts, refusals) = standIn.state.withLock { ($0.attempts, $0.refusals) }
            // From a refusal to the next attempt: 1 s, then ×1.5 each time, each within ±20% (and
            // at most a second more on a loaded machine, for the client to notice and reconnect).
            for (n, base) in [1.0, 1.5, 2.25, 3.375].enumerated() {
                let wait = attempts[n + 1] - refusals[n]
                let gap = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
                #expect(
                    gap >= base * 0.8 && gap <= base * 1.2 + 1,
                    "attempt \(n + 2) came \(gap) s after the refusal before it, expected \(base) s ±20%"
                )
            }
            // Accepted again: connected, and what was refused meanwhile is not lost.
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            _ = try await admin.create("Waited")
            standIn.update { $0.refuse = false }
            #expect(try await eventually(15) { try await linkStatus(client) == "connected" })
            #expect(try await eventually(10) { standIn.envelopes.contains { $0["data"]?["agent_name"] == .string("Waited") } })
        }
    }

    @Test func aSilentOrchestratorIsAFailedAttemptAfterTheAuthTimeout() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        standIn.update { $0.silent = true }
        var silent = try await configuration(standIn)
        silent.orchestratorAuthTimeout = .milliseconds(500)
        let config = silent
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let retried = try await eventually(15) { standIn.state.withLock { $0.hellos.count } >= 4 }
            #expect(retried, "the unanswered handshake was given up and tried again")
            #expect(try await linkStatus(client) != "connected", "a handshake without an answer never counts as connected")
            // Each failed attempt lengthens the wait: the third is at least 2.25 s − 20% after the
            // 0.5 s deadline (were the wait reset, it would be about 1 s).
            let times = standIn.state.withLock { $0.helloTimes }
            let third = times[3] - times[2]
            #expect(third >= .milliseconds(2300), "\(third)")
        }
    }

    @Test func nothingIsLostWhileTheOrchestratorIsAway() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        let config = try await configuration(standIn)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            #expect(try await eventually(10) { try await linkStatus(client) == "connected" })
            let admin = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            var ids: [String] = []
            for n in 1...5 { ids.append(try #require(try await admin.create("Agent \(n)")["id"]?.stringValue)) }
            standIn.update { $0.down = true }
            // 100 changes while it is away: 20 updates of each agent.
            for round in 1...20 {
                for id in ids {
                    #expect(try await admin.send(.patch, "/v1/agents/\(id)", json: #"{"description":"round \#(round)"}"#).status == .ok)
                }
            }
            #expect(try await eventually(5) { try await linkStatus(client) != "connected" })
            standIn.update { $0.down = false }
            #expect(try await eventually(30) { Set(standIn.envelopes.compactMap { $0["event_id"] }).count == 105 }, "every event arrives")
            // Repeats allowed; per agent the versions come in order.
            var seen = Set<JSONValue>()
            let firsts = standIn.envelopes.filter { seen.insert($0["event_id"] ?? .null).inserted }
            for id in ids {
                let versions = firsts.filter { $0["data"]?["agent_id"]?.stringValue == id }.compactMap { $0["data"]?["version"]?.numberValue }
                #expect(versions == (1...21).map(Double.init))
            }
        }
    }

    @Test func whatWasSentButNeverConfirmedIsSentAgain() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        var quick = try await configuration(standIn)
        quick.orchestratorPing = .milliseconds(500)
        let config = quick
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            #expect(try await eventually(10) { try await linkStatus(client) == "connected" })
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            _ = try await admin.create("Confirmed")
            #expect(try await eventually(10) { standIn.envelopes.count == 1 })
            let first = try #require(standIn.envelopes.first?["sequence"]?.numberValue)
            #expect(try await eventually(10) { try await confirmed(config) == Int64(first) }, "its pong confirmed the first")
            // It reads two more frames (one event and its channel frame), then nothing: no pong.
            let read = standIn.state.withLock { $0.frames.count }
            standIn.update { $0.deafAfter = read + 2 }
            _ = try await admin.create("Unconfirmed")
            #expect(try await eventually(10) { standIn.envelopes.count == 2 })
            let unconfirmed = try #require(standIn.envelopes.last?["event_id"])
            // The unanswered ping ends the connection; the event goes out again on the next one.
            standIn.update { $0.deafAfter = nil }
            #expect(try await eventually(15) { standIn.envelopes.filter { $0["event_id"] == unconfirmed }.count == 2 })
            #expect(try await eventually(10) { try await linkStatus(client) == "connected" })
            #expect(standIn.state.withLock { $0.hellos.count } >= 2)
        }
    }

    @Test func anAckConfirmsNoMoreThanWasSent() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        standIn.update {
            $0.bogusAck = 1_000_000_000
            $0.bogusPong = 2_000_000_000
        }
        let config = try await configuration(standIn)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            #expect(try await eventually(10) { try await linkStatus(client) == "connected" })
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await confirmed(config) < 1_000_000_000, "an ack beyond what was sent, or a pong no ping asked for, confirms nothing unsent")
            standIn.update { $0.acks = true }
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            _ = try await admin.create("Acked")
            #expect(try await eventually(10) { standIn.envelopes.count == 1 })
            let sequence = try #require(standIn.envelopes.first?["sequence"]?.numberValue)
            #expect(try await eventually(10) { try await confirmed(config) == Int64(sequence) })
        }
    }

    /// Two replicas: only the leader holds a connection; when it stops, the other connects within
    /// 10 s and goes on from the confirmed position.
    @Test func oneReplicaSendsAndAnotherTakesOverWhenItStops() async throws {
        let standIn = try await StandInOrchestrator.start()
        defer { standIn.stop() }
        let config = try await configuration(standIn)
        var first = config
        first.port = 0
        first.replicaName = "leader-" + UUID().uuidString
        let leader = try await buildApplication(first, logger: makeLogger(first))
        let follower = try await buildApplication(config, logger: makeLogger(config))
        let running = Task { try await ServiceGroup(configuration: .init(services: [leader], logger: Logger(label: "test"))).run() }
        defer { running.cancel() }
        #expect(try await eventually(20) { standIn.state.withLock { $0.open } == 1 })
        try await follower.test(.router) { client in
            #expect(try await linkStatus(client) == "off", "the follower holds no link")
            let admin = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .enterprise, client))
            for n in 1...3 { _ = try await admin.create("Agent \(n)") }
            #expect(try await eventually(10) { standIn.envelopes.count == 3 })
            running.cancel()
            _ = await running.result
            let stopped = ContinuousClock.now
            #expect(try await eventually(10) { try await linkStatus(client) == "connected" })
            #expect(ContinuousClock.now - stopped < .seconds(10), "the other replica took over within 10 s")
            for n in 4...5 { _ = try await admin.create("Agent \(n)") }
            #expect(try await eventually(10) { Set(standIn.envelopes.compactMap { $0["event_id"] }).count == 5 })
            var seen = Set<JSONValue>()
            let names = standIn.envelopes.filter { seen.insert($0["event_id"] ?? .null).inserted }.compactMap {
                $0["data"]?["agent_name"]?.stringValue
            }
            #expect(names == (1...5).map { "Agent \($0)" })
            #expect(standIn.state.withLock { $0.mostOpen } == 1, "never two senders at once")
        }
    }
}

private func linkStatus(_ client: any TestClientProtocol) async throws -> String? {
    try await client.execute(uri: "/health/ready", method: .get).json()["components"]?["orchestrator"]?["status"]?.stringValue
}

/// The orchestrator's confirmed position, as stored.
private func confirmed(_ config: AppConfiguration) async throws -> Int64 {
    try await asSuperuser(config.databaseURL) { pg in
        let rows = try await pg.query("SELECT delivered FROM outbox_sinks WHERE name = 'orchestrator'", logger: Logger(label: "test"))
        for try await n in rows.decode(Int64.self) { return n }
        return 0
    }
}
