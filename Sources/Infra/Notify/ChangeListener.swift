public import Domain
public import Logging
import NIOCore
import NIOPosix
import PostgresNIO
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// LISTENs on `ams_outbox`, whose notices come with every committed event: it hands each agent
/// change they carry to `onChange` (the caches ride on the events) and wakes the notifier; on
/// `agent_management_changes` for tier and tool catalog changes; and on `ams_events` (see
/// `EventHooks`), holding the notifier's leader lock on this same connection when it gets it: the
/// lock goes when the connection does.
///
/// LISTEN lives on a connection of its own, outside the pool (it is held for good, and a pooled
/// connection that the server closes while leased has been seen to stall the pool). A connection can
/// also die silently (a partition drops packets without a FIN), so the listener proves it is alive: it
/// sends itself a `NOTIFY` every half heartbeat, each of which must come back within one heartbeat,
/// and TCP keepalive probes the socket. A missed heartbeat is a disconnect. `onListening(false)` on a
/// disconnect and `onListening(true)` once LISTEN is back tell the caches when they cannot be trusted.
public struct ChangeListener: Service {
    public struct Configuration: Sendable {
        public var databaseURL: String
        public var heartbeat: Duration
        /// Shown as `application_name` in `pg_stat_activity`, so operators (and tests) can find this replica's listener.
        public var applicationName: String

        public init(databaseURL: String, heartbeat: Duration = .seconds(2), applicationName: String) {
            self.databaseURL = databaseURL
            self.heartbeat = heartbeat
            self.applicationName = applicationName
        }
    }

    struct HeartbeatMissed: Error {}
    struct NotificationsEnded: Error {}

    let configuration: Configuration
    let logger: Logger
    let onChange: @Sendable (ChangeNotification) async -> Void
    let onListening: @Sendable (Bool) async -> Void
    let events: EventHooks

    public init(
        configuration: Configuration,
        logger: Logger,
        onChange: @escaping @Sendable (ChangeNotification) async -> Void,
        onListening: @escaping @Sendable (Bool) async -> Void,
        events: EventHooks = EventHooks()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onChange = onChange
        self.onListening = onListening
        self.events = events
    }

    public func run() async throws {
        let url = try DatabaseURL(configuration.databaseURL)
        await cancelWhenGracefulShutdown {
            var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
            while !Task.isCancelled {
                let state = HeartbeatState()
                do {
                    let conn = try await connect(url)
                    do {
                        try await listen(on: conn, state: state)
                    } catch {
                        try? await conn.close()
                        throw error
                    }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("change listener lost its connection", metadata: ["error": "\(String(reflecting: error))"])
                }
                // The lock went with the connection: said at once, before anything that awaits.
                events.leadership(false)
                await onListening(false)
                if state.wasListening { backoff.reset() }
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Consumes changes until the connection fails or a heartbeat is missed; never returns normally.
    /// Setting LISTEN up counts as a heartbeat too, so a path that goes dark right after connecting is
    /// caught as fast. Whatever ends it (a missed beat, shutdown) closes the connection, which is what
    /// ends a query stuck on a dead path: PostgresNIO cannot cancel one.
    private func listen(on conn: PostgresConnection, state: HeartbeatState) async throws {
        let beatChannel = "ams_heartbeat_" + String(UInt64.random(in: 0 ... .max), radix: 16)
        let heartbeat = configuration.heartbeat
        let setup = state.send()
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeat / 8)
                        if state.isOverdue(after: heartbeat) {
                            logger.warning("change listener missed a heartbeat")
                            try? await conn.close()
                            throw HeartbeatMissed()
                        }
                    }
                }
                group.addTask {
                    try await conn.listen(on: PostgresDatabase.channel) { changes in
                        try await conn.listen(on: PostgresEventStore.outboxChannel) { outbox in
                            try await conn.listen(on: PostgresEventStore.eventsChannel) { sequenced in
                                try await conn.listen(on: beatChannel) { beats in
                                    state.received(setup)
                                    logger.info("listening for changes")
                                    await onListening(true)
                                    events.listening()
                                    try await consume(changes, outbox, sequenced, beats, on: conn, beatChannel: beatChannel, state: state)
                                }
                            }
                        }
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } onCancel: {
            conn.close().whenComplete { _ in }
        }
    }

    private func consume(
        _ changes: PostgresNotificationSequence,
        _ outbox: PostgresNotificationSequence,
        _ sequenced: PostgresNotificationSequence,
        _ beats: PostgresNotificationSequence,
        on conn: PostgresConnection,
        beatChannel: String,
        state: HeartbeatState
    ) async throws {
        let heartbeat = configuration.heartbeat
        let sender = Connection(conn)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Tier and catalog changes only: agent notices come with the events (below), and one
                // sent here by hand or by an older release would bypass them.
                for try await notification in changes {
                    if let change = ChangeNotification(payload: notification.payload), change.kind != .agent { await onChange(change) }
                }
                throw NotificationsEnded()
            }
            group.addTask {
                for try await notification in outbox {
                    events.outbox()
                    if let change = ChangeNotification(payload: notification.payload) { await onChange(change) }
                }
                throw NotificationsEnded()
            }
            group.addTask {
                for try await notice in sequenced { if let newest = Int64(notice.payload) { events.sequenced(newest) } }
                throw NotificationsEnded()
            }
            if let key = events.leaderKey {
                // Tried every heartbeat until this replica leads; held until the connection goes.
                group.addTask {
                    var leading = false
                    while true {
                        if !leading {
                            for try await got in try await sender.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).decode(Bool.self) {
                                leading = got
                            }
                            if leading {
                                logger.info("leading the notifier")
                                events.leadership(true)
                            }
                        }
                        try await Task.sleep(for: heartbeat)
                    }
                }
            }
            group.addTask {
                for try await beat in beats { state.received(Int(beat.payload) ?? 0) }
                throw NotificationsEnded()
            }
            group.addTask {
                while true {
                    let beat = state.send()
                    try await sender.query("SELECT pg_notify(\(beatChannel), \(String(beat)))", logger: logger)
                    try await Task.sleep(for: heartbeat / 2)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// A connection of our own making, so TCP keepalive can be switched on (PostgresNIO has no option for it).
    private func connect(_ url: DatabaseURL) async throws -> PostgresConnection {
        let seconds = max(1, Int(configuration.heartbeat.components.seconds))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.Types.SocketOption(level: .init(IPPROTO_TCP), name: .init(TCP_KEEPIDLE)), value: seconds)
            .channelOption(ChannelOptions.Types.SocketOption(level: .init(IPPROTO_TCP), name: .init(TCP_KEEPINTVL)), value: seconds)
            .channelOption(ChannelOptions.Types.SocketOption(level: .init(IPPROTO_TCP), name: .init(TCP_KEEPCNT)), value: 3)
            // Unacknowledged data (a LISTEN or NOTIFY sent into a dead path) also gives up in time.
            .channelOption(ChannelOptions.Types.SocketOption(level: .init(IPPROTO_TCP), name: .init(TCP_USER_TIMEOUT)), value: seconds * 3000)
            .connectTimeout(.seconds(Int64(max(2, configuration.heartbeat.components.seconds * 2))))
            .connect(host: url.host, port: url.port)
            .get()
        var config = PostgresConnection.Configuration(
            establishedChannel: channel,
            tls: try url.connectionTLS(),
            username: url.username,
            password: url.password,
            database: url.database
        )
        // The server notices a vanished replica within seconds too, and frees the leader lock it held.
        config.options.additionalStartupParameters = [
            ("application_name", configuration.applicationName), ("tcp_keepalives_idle", "\(seconds)"),
            ("tcp_keepalives_interval", "\(seconds)"), ("tcp_keepalives_count", "3"),
        ]
        // The startup handshake gives up as soon as the TCP connect would (PostgresNIO's default is 10 s).
        config.options.connectTimeout = .seconds(Int64(max(2, configuration.heartbeat.components.seconds * 2)))
        return try await PostgresConnection.connect(on: channel.eventLoop, configuration: config, id: 0, logger: logger)
    }
}

/// What the notifier hears on the listener's connection.
public struct EventHooks: Sendable {
    /// LISTEN was set up anew: notices may have been missed meanwhile.
    public var listening: @Sendable () -> Void
    /// A write committed events (`NOTIFY ams_outbox`).
    public var outbox: @Sendable () -> Void
    /// The leader gave events sequences up to this one (`NOTIFY ams_events`).
    public var sequenced: @Sendable (Int64) -> Void
    /// Whether this replica now holds the leader lock (`leaderKey`; `nil`: it never tries).
    public var leadership: @Sendable (Bool) -> Void
    public var leaderKey: Int64?

    public init(
        listening: @escaping @Sendable () -> Void = {},
        outbox: @escaping @Sendable () -> Void = {},
        sequenced: @escaping @Sendable (Int64) -> Void = { _ in },
        leadership: @escaping @Sendable (Bool) -> Void = { _ in },
        leaderKey: Int64? = nil
    ) {
        self.listening = listening
        self.outbox = outbox
        self.sequenced = sequenced
        self.leadership = leadership
        self.leaderKey = leaderKey
    }
}

/// The heartbeats sent and not yet back, with when each was sent.
final class HeartbeatState: Sendable {
    private let state = Mutex<(next: Int, pending: [Int: ContinuousClock.Instant], listening: Bool)>((1, [:], false))

    /// Whether LISTEN was ever in place on this connection (so the reconnect backoff can start over).
    var wasListening: Bool { state.withLock { $0.listening } }

    func send() -> Int {
        state.withLock {
            let beat = $0.next
            $0.next += 1
            $0.pending[beat] = .now
            return beat
        }
    }

    /// Notices arrive in order, so a beat that came back answers every earlier one too.
    func received(_ beat: Int) {
        state.withLock {
            $0.pending = $0.pending.filter { $0.key > beat }
            $0.listening = true
        }
    }

    /// True when some heartbeat has waited longer than `limit`.
    func isOverdue(after limit: Duration) -> Bool {
        state.withLock { s in s.pending.values.contains { .now - $0 > limit } }
    }
}
