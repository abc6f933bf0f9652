import NIOCore
import NIOWebSocket
import Synchronization

/// HummingbirdWebSocket answers a graceful shutdown by closing every socket at once with a bare
/// 1000, before the event socket's own handler can send its 1001. This handler, between the frame
/// decoder and the socket, makes that close the socket's: 1001 naming the position to reconnect
/// with. The echo of a close the peer sent, and every close with a reason, pass as they are.
final class ShutdownCloseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// The sequence the socket's subscriber reached (`nil` until it subscribed: the close stays bare).
    final class Position: Sendable {
        private let value = Mutex<Int64?>(nil)

        var current: Int64? { value.withLock { $0 } }

        func reached(_ sequence: Int64) { value.withLock { $0 = sequence } }
    }

    private let position: Position
    private var peerClosed = false

    init(position: Position) {
        self.position = position
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if unwrapInboundIn(data).opcode == .connectionClose { peerClosed = true }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        var payload = frame.unmaskedData
        guard frame.opcode == .connectionClose, !peerClosed, let sequence = position.current, payload.readableBytes == 2,
            payload.readWebSocketErrorCode() == .normalClosure
        else {
            context.write(data, promise: promise)
            return
        }
        var named = context.channel.allocator.buffer(capacity: 96)
        named.write(webSocketErrorCode: .goingAway)
        named.writeString(EventSocket.shuttingDown(since: sequence))
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: named)), promise: promise)
    }
}
