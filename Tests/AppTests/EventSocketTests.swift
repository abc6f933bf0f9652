import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Infra
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
            #expect(try await admin.send(.get, "/v1/ws").errorCode == "AMS-312", "a plain GET is told to upgrade")
            #expect(try await admin.send(.get, "/v1/ws?since=-1").errorCode == "AMS-109")
            #expect(try await Caller(client: client, token: "nope").send(.get, "/v1/ws").errorCode == "AMS-202")

            // An upgrade request is refused with a close frame whose reason starts with the code.
            let bad: HTTPFields = [.authorization: "Bearer nope"]
            let refused = try await refusal {
                try await client.ws("/v1/ws", configuration: .init(additionalHeaders: bad)) { inbound, _, _ in for try await _ in inbound {} }
            }
            #expect(refused?.closeCode == .policyViolation && refused?.reason?.hasPrefix("AMS-202") == true, "\(String(describing: refused))")
            let good: HTTPFields = [.authorization: "Bearer \(try #require(admin.token))"]
            let badSince = try await refusal {
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

/// The socket's ends: with the token's access, at shutdown, after a large replay on a busy tenant;
/// every close names a position the service takes; the upgrade is a request like any other.
@Suite struct EventSocketEndingTests {
    /// A token 27 s past its `exp` still passes (30 s leeway): the socket has about 3 s, then 1008.
    /// Its subscriber received nothing, yet the close names a position, and a socket from there
    /// gets what came after.
    @Test func aSocketEndsWithItsTokensAccessNamingAPositionItTakes() async throws {
        try await eventApp().test(.live) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let expiry = Date(timeIntervalSinceNow: -27)
            let token = try await TokenVerifier(secret: TestSupport.secret)
                .sign(AccessClaims(subject: "u", tenant: tenant, roles: ["viewer"], expiry: expiry))
            let received = Mutex(0)
            let close = try await within(30) {
                try await client.ws("/v1/ws", configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"])) { inbound, _, _ in
                    for try await _ in inbound.messages(maxSize: 1 << 20) { received.withLock { $0 += 1 } }
                }
            }
            #expect(Date() < expiry.addingTimeInterval(35), "within 5 s of exp plus the leeway")
            #expect(close?.closeCode == .policyViolation && close?.reason?.hasPrefix("AMS-203") == true, "\(String(describing: close))")
            #expect(received.withLock { $0 } == 0)
            let since = try #require(position(close?.reason), "\(String(describing: close))")

            let got = Mutex<[String]>([])
            let fresh: HTTPFields = [.authorization: "Bearer \(try #require(admin.token))"]
            _ = try await within(30) {
                try await client.ws("/v1/ws?since=\(since)", configuration: .init(additionalHeaders: fresh)) { inbound, outbound, _ in
                    _ = try await admin.create("After")
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message, let name = JSONValue.parse(Array(text.utf8))?["data"]?["agent_name"]?.stringValue else {
                            continue
                        }
                        got.withLock { $0.append(name) }
                        if name == "After" { break }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            #expect(got.withLock { $0 }.last == "After", "the position was taken: \(got.withLock { $0 })")
        }
    }

    /// The service stops: a subscriber that received nothing is told where to reconnect from.
    @Test func theShutdownCloseNamesAPositionForASubscriberThatReceivedNothing() async throws {
        let socket = try await eventApp().test(.live) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            _ = try await admin.create("Before")
            let headers: HTTPFields = [.authorization: "Bearer \(try #require(admin.token))"]
            let (upgraded, signal) = AsyncStream.makeStream(of: Void.self)
            // Outlives this closure: the service stops when it returns.
            let socket = Task {
                try await within(60) {
                    try await client.ws("/v1/ws", configuration: .init(additionalHeaders: headers)) { inbound, _, _ in
                        signal.yield()
                        for try await _ in inbound {}
                    }
                }
            }
            for await _ in upgraded { break }
            // The subscriber is in place a moment after the upgrade (2 s: CI machines are slow;
            // too early, the close is a bare 1000 and the test fails rather than passing).
            try await Task.sleep(for: .seconds(2))
            return socket
        }
        let close = try await socket.value
        #expect(close?.closeCode == .goingAway, "\(String(describing: close))")
        #expect(position(close?.reason) != nil, "\(String(describing: close))")
    }

    /// A replay from `since` on a tenant whose live events overflow the subscriber's buffer
    /// meanwhile (a slow store, a small buffer) runs to its end instead of being cut off.
    @Test func aLargeReplayOnABusyTenantFinishes() async throws {
        let url = try await sharedDatabase.value
        let tenant = TestSupport.tenant()
        let admin = try await TestSupport.token(tenant: tenant)
        let postgres = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await postgres.run() }
            defer { group.cancelAll() }
            let store = PostgresStores(client: postgres, defaultTier: .free, timeout: .seconds(10), logger: Logger(label: "test")).events
            let busy = try await eventApp(url).test(.live) { client in
                var events: [ChangeEvent] = []
                let caller = Caller(client: client, token: admin)
                let id = try await caller.create("Busy").id
                for n in 1...30 {
                    #expect(try await caller.send(.patch, "/v1/agents/\(id)", json: #"{"description":"\#(n)"}"#).status == .ok)
                }
                #expect(
                    try await eventually(20) {
                        events = try await store.events(tenant: tenant, after: 0, limit: 100) ?? []
                        return events.count == 31
                    },
                    "the tenant's events are sequenced"
                )
                return events
            }
            let subscribers = Subscribers(bound: 4)
            subscribers.start(at: 0)
            let socket = EventSocket(
                verifier: await TokenVerifier(secret: TestSupport.secret),
                store: SlowReplayEventStore(inner: store, pause: .milliseconds(400)),
                subscribers: subscribers,
                replayBatch: 5
            )
            let server = Application(
                router: Router(),
                server: .http1WebSocketUpgrade { request, channel, _ in await socket.shouldUpgrade(request, channel: channel) }
            )
            try await server.test(.live) { client in
                let received = Mutex<[Int64]>([])
                let close = try await within(60) {
                    try await client.ws("/v1/ws?since=0", configuration: .init(additionalHeaders: [.authorization: "Bearer \(admin)"])) {
                        inbound,
                        outbound,
                        _ in
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            guard case .text(let text) = message, let sequence = JSONValue.parse(Array(text.utf8))?["sequence"]?.numberValue else {
                                continue
                            }
                            let count = received.withLock { got in
                                got.append(Int64(sequence))
                                return got.count
                            }
                            // The tenant is busy: more live events than the buffer holds arrive while the replay runs.
                            if count == 1 { subscribers.publish(busy) }
                            if count == busy.count { break }
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
                #expect(received.withLock { $0 } == busy.map(\.sequence), "the whole replay, in order")
                #expect(close == nil || close?.closeCode == .normalClosure, "\(String(describing: close))")
            }
        }
    }

    /// The upgrade counts against requests per minute, in `/metrics` and in the access log.
    @Test func anUpgradeIsCountedLimitedAndLogged() async throws {
        let logs = LogCapture()
        var config = try TestSupport.configuration(databaseURL: try await sharedDatabase.value)
        config.eventLeader = true
        config.rateLimits = true
        config.accessLog = true
        // A fixed window restarts each minute: start just after it does, so the 60 requests fit in
        // one window even on a loaded machine (an upgrade in the next window is admitted, not refused).
        let second = Int(Date.now.timeIntervalSince1970) % 60
        if second > 3 { try await Task.sleep(for: .seconds(61 - second)) }
        try await buildApplication(config, logger: logs.logger()).test(.live) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant, subject: "socket-user")
            let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let headers: HTTPFields = [
                .authorization: "Bearer \(try #require(admin.token))", .requestID: "req-socket", .traceparent: "00-\(trace)-00f067aa0ba902b7-01",
            ]
            _ = try await within(30) {
                try await client.ws("/v1/ws", configuration: .init(additionalHeaders: headers)) { inbound, outbound, _ in
                    // Subscribed (so admitted) once a change made now arrives.
                    _ = try await admin.create("Seen")
                    for try await _ in inbound.messages(maxSize: 1 << 20) { break }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            // Free tier: 60 requests a minute; the upgrade, the create and this one so far.
            let first = try await admin.send(.get, "/v1/tenant")
            #expect(first.headers[.rateLimitRemaining] == "57", "the upgrade was counted")
            for _ in 0..<57 { _ = try await admin.send(.get, "/v1/tenant") }
            let refused = try await refusal {
                try await client.ws("/v1/ws", configuration: .init(additionalHeaders: [.authorization: "Bearer \(try #require(admin.token))"])) {
                    inbound,
                    _,
                    _ in
                    for try await _ in inbound {}
                }
            }
            #expect(refused?.closeCode == .policyViolation && refused?.reason?.hasPrefix("AMS-208") == true, "\(String(describing: refused))")

            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"http_requests_total{method="GET",route="/v1/ws",status="101"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"http_requests_total{method="GET",route="/v1/ws",status="429"} 1"#))
            let line = try #require(logs.lines.first { $0.message == "request" && $0.metadata["request_id"] == "req-socket" })
            #expect(line.metadata["route"] == "/v1/ws" && line.metadata["status"] == "101")
            #expect(line.metadata["tenant_id"] == tenant && line.metadata["sub"] == "socket-user" && line.metadata["trace_id"] == trace)
        }
    }
}

/// The `since=N` a close reason names, when N is a position the service takes.
private func position(_ reason: String?) -> Int64? {
    guard let reason, let range = reason.range(of: "since=") else { return nil }
    let digits = reason[range.upperBound...].prefix { $0.isNumber || $0 == "-" }
    guard EventSocket.since("since=" + digits) != nil, let value = Int64(digits) else { return nil }
    return value
}

/// The body's result, or a failure when it takes longer (a socket test must not hang the run).
private struct TimedOut: Error {
    let seconds: Double
}

private func within<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A refused upgrade's close frame. The test client now and then misses a close frame that
/// follows the 101 at once (and then waits for nothing), so a connection that hears nothing in
/// 10 s is tried again, up to three times; what it hears is not judged here.
private func refusal(_ body: @escaping @Sendable () async throws -> WebSocketCloseFrame?) async throws -> WebSocketCloseFrame? {
    var attempt = 1
    while true {
        do {
            return try await within(10, body)
        } catch is TimedOut where attempt < 3 {
            attempt += 1
        }
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

/// Purges every event that has its sequence, as a superuser (the outbox is per tenant), back-dated past the purge's one-hour floor.
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
        // Every retention is at least an hour: the events, and the sinks' last word, are made old enough first.
        try await client.query("UPDATE outbox SET created_at = created_at - interval '2 hours' WHERE sequence IS NOT NULL")
        try await client.query("UPDATE outbox_sinks SET updated_at = updated_at - interval '2 hours'")
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
        let (slow, slowEvents, _) = try #require(subscribers.subscribe("t") { cut.withLock { $0 += 1 } })
        let (fast, fastEvents, _) = try #require(subscribers.subscribe("t"))
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

    /// A subscriber's position is where its live events start: after what the sink handed out,
    /// or passed by with no subscriber here, when it subscribed.
    @Test func aSubscribersPositionIsWhereItsLiveEventsStart() async throws {
        let subscribers = Subscribers(bound: 4)
        #expect(subscribers.subscribe("t")?.after == nil, "not started: the start is the position")
        subscribers.start(at: 10)
        #expect(subscribers.first == 10)
        subscribers.publish([event(11), event(12, "u")])
        let (_, events, after) = try #require(subscribers.subscribe("t"))
        #expect(after == 12)
        #expect(!subscribers.skip(through: 20), "a subscriber here: nothing is passed by")
        subscribers.publish([event(13)])
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next()?.sequence == 13)
        let empty = Subscribers()
        empty.start(at: 5)
        #expect(empty.skip(through: 9))
        #expect(empty.subscribe("t")?.after == 9)
    }

    /// A subscriber still replaying is not cut off at once when its buffer overflows: it learns
    /// when it caught up, and replays the rest from a new subscription.
    @Test func aReplayingSubscriberIsNotCutOffAtOnce() async throws {
        let subscribers = Subscribers(bound: 2)
        let cut = Mutex(0)
        let (id, first, _) = try #require(subscribers.subscribe("t", replaying: true) { cut.withLock { $0 += 1 } })
        subscribers.publish([event(1), event(2), event(3)])
        #expect(subscribers.overflowed(id) && cut.withLock { $0 } == 0)
        #expect(!subscribers.caughtUp(id), "it must replay again")
        subscribers.forget(id)
        let (again, second, _) = try #require(subscribers.subscribe("t", replaying: true) { cut.withLock { $0 += 1 } })
        #expect(subscribers.caughtUp(again))
        subscribers.publish([event(4), event(5), event(6)])
        #expect(cut.withLock { $0 } == 1, "live now: cut off at once")
        withExtendedLifetime((first, second)) {}
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
