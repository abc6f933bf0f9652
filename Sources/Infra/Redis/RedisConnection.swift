import NIOCore
import NIOPosix

/// One connection to Redis. Requests are pipelined: each is written at once, and replies come back
/// in order. A request that gets no answer in time closes the connection (its byte stream can no
/// longer be trusted), which fails everything else in flight on it too.
final class RedisConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    var isActive: Bool { channel.isActive }

    /// Connects, then authenticates and selects the database that `url` names.
    /// `onPush` receives Pub/Sub messages once the connection subscribes.
    static func connect(
        to url: RedisURL,
        timeout: Duration,
        on group: any EventLoopGroup,
        onPush: (@Sendable (RedisValue) -> Void)? = nil
    ) -> EventLoopFuture<RedisConnection> {
        ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .connectTimeout(.nanoseconds(timeout.nanoseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onPush: onPush)) }
            }
            .connect(host: url.host, port: url.port)
            .flatMap { channel in
                let connection = RedisConnection(channel: channel)
                var setup: [[String]] = []
                if let password = url.password { setup.append(url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]) }
                if url.database != 0 { setup.append(["SELECT", String(url.database)]) }
                guard !setup.isEmpty else { return channel.eventLoop.makeSucceededFuture(connection) }
                return connection.send(setup, timeout: timeout).flatMapThrowing { replies in
                    for case .error(let message) in replies { throw RedisError.server(message) }
                    return connection
                }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
    }

    /// Sends the commands in one write and answers their replies in order (error replies included).
    func send(_ commands: [[String]], timeout: Duration) -> EventLoopFuture<[RedisValue]> {
        let loop = channel.eventLoop
        var bytes = channel.allocator.buffer(capacity: 64 * commands.count)
        do {
            for command in commands { try RedisProtocol.append(command, to: &bytes) }
        } catch {
            return loop.makeFailedFuture(error)
        }
        let replies = commands.map { _ in loop.makePromise(of: RedisValue.self) }
        let written = loop.makePromise(of: Void.self)
        // Written after the channel closed, the request never reaches the handler: fail it here.
        written.futureResult.whenFailure { _ in
            for reply in replies { reply.fail(RedisError.connectionClosed) }
        }
        channel.writeAndFlush(RedisRequest(bytes: bytes, replies: replies), promise: written)
        let all = EventLoopFuture.whenAllSucceed(replies.map(\.futureResult), on: loop)
        let channel = self.channel
        let deadline = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            for reply in replies { reply.fail(RedisError.timeout) }
            channel.close(promise: nil)
        }
        all.whenComplete { _ in deadline.cancel() }
        return all
    }

    func close() { channel.close(promise: nil) }
}
