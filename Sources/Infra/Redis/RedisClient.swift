import Domain
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A small pool of pipelined Redis connections. A dead connection is replaced on next use; a failed
/// connect makes its slot refuse calls at once (`RedisError.unavailable`) for a back-off that grows
/// from 100 ms to 5 s, so callers answer quickly while Redis is down and reconnect by themselves.
public final class RedisClient: Service {
    public struct Configuration: Sendable {
        public var url: RedisURL
        public var connections: Int
        /// For connecting, and for each call's replies.
        public var timeout: Duration

        public init(url: RedisURL, connections: Int = 2, timeout: Duration = .seconds(2)) {
            self.url = url
            self.connections = max(1, connections)
            self.timeout = timeout
        }
    }

    let configuration: Configuration
    private let group: any EventLoopGroup
    private let slots: [Slot]
    private let turn = Atomic<Int>(0)
    private let logger: Logger
    private let traces: Traces

    public init(configuration: Configuration, traces: Traces = .off, logger: Logger) {
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup.singleton
        self.slots = (0..<configuration.connections).map { _ in Slot() }
        self.logger = logger
        self.traces = traces
    }

    /// One command; an error reply throws `RedisError.server`.
    public func send(_ command: [String]) async throws -> RedisValue {
        let value = try await pipeline([command])[0]
        if case .error(let message) = value { throw RedisError.server(message) }
        return value
    }

    public func send(_ command: String...) async throws -> RedisValue { try await send(command) }

    /// The commands in one write, their replies in order; error replies are returned, not thrown.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await traced(commands) { try await connection().send(commands, timeout: configuration.timeout).get() }
    }

    /// One call as a CLIENT span when tracing is on, named after its command (never its arguments,
    /// which hold tenants' data), or `pipeline` for several.
    private func traced<R>(_ commands: [[String]], _ call: () async throws -> R) async throws -> R {
        try await traces.withChildSpan(commands.count == 1 ? commands[0].first ?? "redis" : "pipeline", kind: .client) { span in
            span?.attributes["db.system.name"] = "redis"
            if commands.count > 1 { span?.attributes["db.operation.batch.size"] = commands.count }
            return try await call()
        }
    }

    /// `PING` answered within `limit` (readiness must answer fast even when Redis drops packets).
    /// The PING itself keeps the client's timeout: giving up on it early would close a connection
    /// other callers share.
    public func isReachable(within limit: Duration = .milliseconds(500)) async -> Bool {
        let loop = group.next()
        let answer = loop.makePromise(of: Bool.self)
        let timer = loop.scheduleTask(in: .nanoseconds(limit.nanoseconds)) {
            answer.succeed(false)
        }
        do {
            let connection: EventLoopFuture<RedisConnection> =
                switch try slot().acquire(connect: connect, logger: logger) {
                case .ready(let connection): loop.makeSucceededFuture(connection)
                case .connecting(let future): future
                }
            connection
                .flatMap { [configuration] in $0.send([["PING"]], timeout: configuration.timeout) }
                .whenComplete { answer.succeed((try? $0.get()) == [.status("PONG")]) }
        } catch {
            answer.succeed(false)
        }
        let reachable = (try? await answer.futureResult.get()) ?? false
        timer.cancel()
        return reachable
    }

    /// The commands' replies, or `RedisError.timeout` after `limit` (the call itself keeps the
    /// client's timeout, as in `isReachable`): for callers that must not wait on a silent Redis.
    public func pipeline(_ commands: [[String]], within limit: Duration) async throws -> [RedisValue] {
        try await traced(commands) { try await pipelineOnce(commands, within: limit) }
    }

    private func pipelineOnce(_ commands: [[String]], within limit: Duration) async throws -> [RedisValue] {
        let loop = group.next()
        let answer = loop.makePromise(of: [RedisValue].self)
        let timer = loop.scheduleTask(in: .nanoseconds(limit.nanoseconds)) {
            answer.fail(RedisError.timeout)
        }
        do {
            let connection: EventLoopFuture<RedisConnection> =
                switch try slot().acquire(connect: connect, logger: logger) {
                case .ready(let connection): loop.makeSucceededFuture(connection)
                case .connecting(let future): future
                }
            connection
                .flatMap { [configuration] in $0.send(commands, timeout: configuration.timeout) }
                .whenComplete { answer.completeWith($0) }
        } catch {
            answer.fail(error)
        }
        defer { timer.cancel() }
        return try await answer.futureResult.get()
    }

    /// Closes every connection; calls made afterwards connect again.
    public func close() {
        for slot in slots { slot.close() }
    }

    /// Holds the connections until shutdown, then closes them.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }

    private func slot() -> Slot {
        slots[Int(UInt(bitPattern: turn.add(1, ordering: .relaxed).newValue) % UInt(slots.count))]
    }

    private func connect() -> EventLoopFuture<RedisConnection> {
        RedisConnection.connect(to: configuration.url, timeout: configuration.timeout, on: group)
    }

    private func connection() async throws -> RedisConnection {
        switch try slot().acquire(connect: connect, logger: logger) {
        case .ready(let connection):
            return connection
        case .connecting(let future):
            do {
                return try await future.get()
            } catch {
                throw RedisError.unavailable(String(describing: error))
            }
        }
    }
}

/// One pooled connection's state.
private final class Slot: Sendable {
    enum State {
        case idle
        case connecting(EventLoopFuture<RedisConnection>)
        case ready(RedisConnection)
        case backingOff(until: ContinuousClock.Instant, reason: String)
    }

    enum Acquired {
        case ready(RedisConnection)
        case connecting(EventLoopFuture<RedisConnection>)
    }

    private let state = Mutex<(state: State, backoff: Backoff)>((.idle, Backoff(initial: .milliseconds(100), maximum: .seconds(5))))

    func acquire(connect: () -> EventLoopFuture<RedisConnection>, logger: Logger) throws -> Acquired {
        let (acquired, started) = try state.withLock { s -> (Acquired, Bool) in
            switch s.state {
            case .ready(let connection) where connection.isActive:
                return (.ready(connection), false)
            case .connecting(let future):
                return (.connecting(future), false)
            case .backingOff(let until, let reason) where ContinuousClock.now < until:
                throw RedisError.unavailable(reason)
            case .idle, .ready, .backingOff:
                let future = connect()
                s.state = .connecting(future)
                return (.connecting(future), true)
            }
        }
        if started, case .connecting(let future) = acquired {
            future.whenComplete { [self] result in finish(result, of: future, logger: logger) }
        }
        return acquired
    }

    /// Only the connect the slot is still waiting for settles it: after a `close()` (or a newer
    /// connect) a late connection is closed, not kept.
    private func finish(_ result: Result<RedisConnection, any Error>, of future: EventLoopFuture<RedisConnection>, logger: Logger) {
        let current = state.withLock { s -> Bool in
            guard case .connecting(let pending) = s.state, pending === future else { return false }
            switch result {
            case .success(let connection):
                s.state = .ready(connection)
                s.backoff.reset()
            case .failure(let error):
                s.state = .backingOff(until: .now + s.backoff.next(), reason: String(describing: error))
            }
            return true
        }
        switch result {
        case .success(let connection) where !current: connection.close()
        case .failure(let error) where current: logger.warning("redis connection failed", metadata: ["error": "\(error)"])
        default: break
        }
    }

    func close() {
        let connection: RedisConnection? = state.withLock { s in
            defer { s.state = .idle }
            if case .ready(let connection) = s.state { return connection }
            return nil
        }
        connection?.close()
    }
}
