import Domain
public import Logging
import NIOCore
import NIOPosix

/// The names of keys an event (`xadd`) touched, from Redis keyspace notifications, on a connection
/// of their own. Notifications are enabled with `CONFIG SET` where Redis allows it (said in the log
/// either way); Pub/Sub loses what is published while disconnected, so `onSubscribed` runs after
/// every (re)subscription for the caller to sweep for what it may have missed.
public struct RedisKeyEvents: Sendable {
    public let url: RedisURL
    public let event: String
    public let timeout: Duration
    public let logger: Logger

    public init(url: RedisURL, event: String, timeout: Duration, logger: Logger) {
        self.url = url
        self.event = event
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs until cancelled, reconnecting with a back-off from 100 ms to 5 s.
    public func run(onKey: @escaping @Sendable (String) -> Void, onSubscribed: @escaping @Sendable () async -> Void) async {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        var warned = false
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(to: url, timeout: timeout, on: MultiThreadedEventLoopGroup.singleton) { value in
                    if case .array(let parts) = value, let key = parts[2].string { onKey(key) }
                }.get()
                defer { connection.close() }
                try await enableNotifications(connection)
                let channel = "__keyevent@\(url.database)__:\(event)"
                let subscribed = try await connection.send([["SUBSCRIBE", channel]], timeout: timeout).get()
                if case .error(let message) = subscribed[0] { throw RedisError.server(message) }
                logger.info("subscribed to redis key events", metadata: ["channel": "\(channel)"])
                backoff.reset()
                warned = false
                await onSubscribed()
                // A silent network path shows as a PING that gets no answer in time.
                while !Task.isCancelled, connection.isActive {
                    try await Task.sleep(for: .seconds(5))
                    _ = try await connection.send([["PING"]], timeout: timeout).get()
                }
            } catch {
                if Task.isCancelled { return }
                if !warned { logger.warning("redis key events unavailable", metadata: ["error": "\(error)"]) }
                warned = true
            }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// Adds `E` (key events) and `t` (stream commands) to `notify-keyspace-events` when missing.
    private func enableNotifications(_ connection: RedisConnection) async throws {
        let current = try await connection.send([["CONFIG", "GET", "notify-keyspace-events"]], timeout: timeout).get()[0]
        let flags = current.array.flatMap { $0.count == 2 ? $0[1].string : nil } ?? ""
        let hasEvents = flags.contains("E")
        let hasStreams = flags.contains("t") || flags.contains("A")
        guard !(hasEvents && hasStreams) else { return }
        let wanted = flags + (hasEvents ? "" : "E") + (hasStreams ? "" : "t")
        let reply = try await connection.send([["CONFIG", "SET", "notify-keyspace-events", wanted]], timeout: timeout).get()[0]
        if case .error(let message) = reply {
            logger.warning(
                "redis keyspace notifications could not be enabled; queues are found by the periodic sweep only",
                metadata: ["error": "\(message)"]
            )
        } else {
            logger.info("redis keyspace notifications enabled", metadata: ["notify-keyspace-events": "\(wanted)"])
        }
    }
}
