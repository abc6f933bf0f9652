import NIOCore

/// Commands written together (a pipeline) and the promises of their replies, in order.
struct RedisRequest {
    var bytes: ByteBuffer
    var replies: [EventLoopPromise<RedisValue>]
}

/// Matches replies to requests in order (Redis answers in the order it was asked), so any number
/// of requests can be in flight on one connection. On a subscribed connection, values nobody asked
/// for are Pub/Sub messages: they go to `onPush`.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader = RedisReplyReader()
    private var waiting = CircularBuffer<EventLoopPromise<RedisValue>>(initialCapacity: 16)
    private let onPush: (@Sendable (RedisValue) -> Void)?

    init(onPush: (@Sendable (RedisValue) -> Void)? = nil) {
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(contentsOf: request.replies)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.feed(unwrapInboundIn(data))
            while let value = try reader.next() {
                if let onPush, Self.isMessage(value) {
                    onPush(value)
                    continue
                }
                guard let reply = waiting.popFirst() else { throw RedisError.protocolError("a reply nobody asked for") }
                reply.succeed(value)
            }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connectionClosed)
        context.fireChannelInactive()
    }

    /// A transport error (reset, broken pipe) reaches callers as the connection closing.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisError.connectionClosed)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisError.connectionClosed)
    }

    /// `["message", channel, payload]`: a subscription's delivery, never a command's reply.
    private static func isMessage(_ value: RedisValue) -> Bool {
        guard case .array(let items) = value, items.count == 3, case .bulk(let kind) = items[0] else { return false }
        return kind.elementsEqual("message".utf8)
    }

    private func failAll(_ error: any Error) {
        while let reply = waiting.popFirst() { reply.fail(error) }
    }
}
