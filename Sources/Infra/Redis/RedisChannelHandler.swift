import NIOCore

/// Commands written together (a pipeline) and the promises of their replies, in order.
struct RedisRequest {
    var bytes: ByteBuffer
    var replies: [EventLoopPromise<RedisValue>]
}

/// Matches replies to requests in order (Redis answers in the order it was asked), so any number
/// of requests can be in flight on one connection.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader = RedisReplyReader()
    private var waiting = CircularBuffer<EventLoopPromise<RedisValue>>(initialCapacity: 16)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(contentsOf: request.replies)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.feed(unwrapInboundIn(data))
            while let value = try reader.next() {
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

    private func failAll(_ error: any Error) {
        while let reply = waiting.popFirst() { reply.fail(error) }
    }
}
