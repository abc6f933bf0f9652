import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import PostgresNIO
import Synchronization
import Testing

@testable import App

/// `GET /v1/ws` over a real socket: a tenant sees its own events only, replays from `since`,
/// authenticates by header or first frame, and is told to resync when `since` is too old.
@Suite struct EventSocketTests {
    @Test func aSubscriberGetsItsOwnTenantsEventsReplayedThenLive() async throws {
        try await eventApp().test(.live) { client in
            let (mine, theirs) = (TestSupport.tenant(), TestSupport.tenant())
            let me = try await Caller.make(client, tenant: mine, roles: [.viewer])
            let myAdmin = try await Caller.make(client, tenant: mine)
            let theirAdmin = try await Caller.make(client, tenant: theirs)
            let before = try #require(try await myAdmin.create("Before")["id"]?.stringValue)
            _ = try await theirAdmin.create("Theirs before")

            let received = Mutex<[JSONValue]>([])
            let headers: HTTPFields = [.authorization: "Bearer \(try #require(me.token))"]
            let close = try await within(20) {
                try await client.ws("/v1/ws?since=0", configuration: .init(additionalHeaders: headers)) { inbound, outbound, _ in
                    var live: String?
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message, let event = JSONValue.parse(Array(text.utf8)) else { continue }
                        received.withLock { $0.append(event) }
                        // Once the replay reached the agent made before, make one more in each tenant.
                        if live == nil, event["data"]?["agent_id"]?.stringValue == before {
                            live = try await myAdmin.create("Live")["id"]?.stringValue
                            _ = try await theirAdmin.create("Theirs live")
                        }
                        if let live, event["data"]?["agent_id"]?.stringValue == live { break }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            #expect(close == nil || close?.closeCode == .normalClosure)
            let events = received.withLock { $0 }
            #expect(events.allSatisfy { $0["tenant_id"] == .string(mine) }, "only the subscriber's tenant")
            #expect(events.map { $0["data"]?["agent_name"]?.stringValue } == ["Before", "Live"])
            #expect(events.map { $0["event"] } == [.string("agent_created"), .string("agent_created")])
            let sequences = events.compactMap { $0["sequence"]?.numberValue }
            #expect(sequences == sequences.sorted())

            // From the first event's sequence on, only what came after it.
            let after = try #require(sequences.first)
            let replayed = Mutex<[JSONValue]>([])
            _ = try await within(20) {
                try await client.ws("/v1/ws?since=\(Int(after))", configuration: .init(additionalHeaders: headers)) { inbound, outbound, _ in
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message, let event = JSONValue.parse(Array(text.utf8)) else { continue }
                        replayed.withLock { $0.append(event) }
                        break
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            #expect(replayed.withLock { $0.map { $0["data"]?["agent_name"] } } == [.string("Live")])
        }
    }

    @Test func theTokenMayComeInTheFirstFrameAndMustComeInTime() async throws {
        try await eventApp { $0.eventSocketAuthTimeout = .milliseconds(300) }.test(.live) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let token = try #require(admin.token)
            let got = Mutex<JSONValue?>(nil)
            _ = try await within(20) {
                try await client.ws("/v1/ws") { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"token":"\#(token)"}"#))
                    // Subscribed once the token is checked: changes are made until one arrives.
                    let maker = Task {
                        for n in 1...20 {
                            _ = try await admin.create("After auth \(n)")
                            try await Task.sleep(for: .milliseconds(250))
                        }
                    }
                    defer { maker.cancel() }
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        if case .text(let text) = message { got.withLock { $0 = JSONValue.parse(Array(text.utf8)) } }
                        break
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            #expect(got.withLock { $0 }?["data"]?["agent_name"]?.stringValue?.hasPrefix("After auth") == true)
            #expect(got.withLock { $0 }?["tenant_id"] == .string(tenant))

            let bad = try await within(30) {
                try await client.ws("/v1/ws") { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"token":"not-a-jwt"}"#))
                    for try await _ in inbound {}
                }
            }
            #expect(bad?.closeCode == .policyViolation && bad?.reason?.hasPrefix("AMS-202") == true, "\(String(describing: bad))")
            let silent = try await within(30) {
                try await client.ws("/v1/ws") { inbound, _, _ in
                    for try await _ in inbound {}
                }
            }
            #expect(silent?.closeCode == .policyViolation && silent?.reason?.hasPrefix("AMS-201") == true, "no token within the time allowed")
        }
    }

    @Test func refusedUpgradesAnswerInTheEnvelope() async throws {
        try await TestSupport.app().test(.live) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            #expect(try await admin.send(.get, "/v1/ws").errorCode == "AMS-112", "a plain GET is told to upgrade")
            #expect(try await admin.send(.get, "/v1/ws?since=-1").errorCode == "AMS-109")
            #expect(try await Caller(client: client, token: "nope").send(.get, "/v1/ws").errorCode == "AMS-202")

            // An upgrade request is refused with a close frame whose reason starts with the code.
            let bad: HTTPFields = [.authorization: "Bearer nope"]
            let refused = try await within(30) {
                try await client.ws("/v1/ws", configuration: .init(additionalHeaders: bad)) { inbound, _, _ in for try await _ in inbound {} }
            }
            #expect(refused?.closeCode == .policyViolation && refused?.reason?.hasPrefix("AMS-202") == true, "\(String(describing: refused))")
            let good: HTTPFields = [.authorization: "Bearer \(try #require(admin.token))"]
            let badSince = try await within(30) {
                try await client.ws("/v1/ws?since=x", configuration: .init(additionalHeaders: good)) { inbound, _, _ in for try await _ in inbound {}
                }
            }
            #expect(badSince?.closeCode == .policyViolation && badSince?.reason?.hasPrefix("AMS-109") == true)
        }
    }

    @Test func aReplayFromBeforeWhatIsKeptIsToldToResync() async throws {
        let url = try await TestSupport.freshDatabase()
        try await eventApp(url).test(.live) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            _ = try await admin.create("Soon purged")
            #expect(
                try await eventually(10) {
                    let ready = try await client.execute(uri: "/health/ready", method: .get).json()
                    return (ready["components"]?["notifier"]?["sequence"]?.numberValue ?? 0) > 0
                },
                "the event has its sequence"
            )
            #expect(try await purge(url) > 0)
            let headers: HTTPFields = [.authorization: "Bearer \(try #require(admin.token))"]
            let close = try await within(30) {
                try await client.ws("/v1/ws?since=0", configuration: .init(additionalHeaders: headers)) { inbound, _, _ in
                    for try await _ in inbound {}
                }
            }
            #expect(close?.closeCode == EventSocket.resyncRequired)
        }
    }
}

/// The body's result, or a failure when it takes longer (a socket test must not hang the run).
private struct TimedOut: Error {}

private func within<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// One database for the suite's tests that purge nothing (making one costs the server a burst of writes).
private let sharedDatabase = Task { try await TestSupport.freshDatabase() }

/// An application that leads the notifier (or follows the one that does), over a database that
/// other suites do not use.
private func eventApp(_ url: String? = nil, _ configure: (inout AppConfiguration) -> Void = { _ in }) async throws -> some ApplicationProtocol {
    let databaseURL: String
    if let url { databaseURL = url } else { databaseURL = try await sharedDatabase.value }
    var config = try TestSupport.configuration(databaseURL: databaseURL)
    config.eventLeader = true
    configure(&config)
    return try await buildApplication(config, logger: makeLogger(config))
}

/// Purges every event that has its sequence, as a superuser (the outbox is per tenant).
private func purge(_ databaseURL: String) async throws -> Int {
    guard let admin = ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"] else { throw TestSupport.ConfigurationMissing() }
    var parts = URLComponents(string: admin)!
    parts.path = URLComponents(string: databaseURL)!.path
    let client = PostgresClient(configuration: try .init(url: parts.string!))
    return try await withThrowingTaskGroup(of: Int?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        defer { group.cancelAll() }
        for try await count in try await client.query("SELECT ams_purge_outbox('0 seconds', 1000)").decode(Int.self) { return count }
        return 0
    }
}

@Suite struct SubscribersTests {
    private func event(_ n: Int64, _ tenant: TenantID = "t") -> ChangeEvent {
        ChangeEvent(
            sequence: n,
            eventID: UUID(),
            tenantID: tenant,
            event: "agent_updated",
            agentID: nil,
            taskID: nil,
            globalTaskID: nil,
            data: "{}",
            timestamp: .now
        )
    }

    /// A subscriber that does not keep up is cut off once its buffer is full, and told at once
    /// (its sender may be stuck on a full socket); the others of its tenant go on.
    @Test func aSlowSubscriberIsCutOffNotBufferedWithoutLimit() async throws {
        let subscribers = Subscribers(bound: 4)
        let cut = Mutex(0)
        let (slow, slowEvents) = try #require(subscribers.subscribe("t") { cut.withLock { $0 += 1 } })
        let (fast, fastEvents) = try #require(subscribers.subscribe("t"))
        var fastIterator = fastEvents.makeAsyncIterator()
        for n in 1...6 {
            subscribers.publish([event(Int64(n))])
            #expect(await fastIterator.next()?.sequence == Int64(n))
        }
        #expect(subscribers.overflowed(slow) && !subscribers.overflowed(fast))
        #expect(cut.withLock { $0 } == 1, "told once")
        var got: [Int64] = []
        for await event in slowEvents { got.append(event.sequence) }
        #expect(got == [1, 2, 3, 4], "what fit in the buffer, then the end")
        subscribers.publish([event(7), event(8, "u")])
        #expect(await fastIterator.next()?.sequence == 7, "another tenant's event is not for it")
    }

    @Test func aTenantHasBoundedSubscribersAndAllEndWhenTheSinkStops() async throws {
        let subscribers = Subscribers(bound: 4, perTenant: 2)
        let first = try #require(subscribers.subscribe("t"))
        let second = try #require(subscribers.subscribe("t"))
        #expect(subscribers.subscribe("t") == nil, "a third subscriber of one tenant is refused")
        let other = try #require(subscribers.subscribe("u"), "another tenant has its own bound")
        subscribers.finishAll()
        var count = 0
        for await _ in first.events { count += 1 }
        #expect(count == 0)
        #expect(subscribers.subscribe("v") == nil, "none after the sink stopped")
        await subscribers.started()
        _ = (second, other)
    }
}
