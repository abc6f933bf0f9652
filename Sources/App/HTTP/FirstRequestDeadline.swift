import HummingbirdCore
import Logging
import NIOCore

/// The WebSocket-capable HTTP/1 channel arms its idle timer only once a request head has arrived,
/// so a client that connects and says nothing, or half a request, would hold its connection for
/// ever. This closes a connection that stays silent for `timeout` before its first answer, and
/// steps out of the pipeline with that answer (the HTTP idle timer or the WebSocket pings take over).
struct FirstRequestDeadline<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(Handler(timeout: timeout), position: .first)
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }

    final class Handler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        typealias OutboundIn = NIOAny
        let timeout: TimeAmount
        private var deadline: Scheduled<Void>?

        init(timeout: TimeAmount) { self.timeout = timeout }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { arm(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            arm(context)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            deadline?.cancel()
            deadline = nil
            arm(context)
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            deadline?.cancel()
            deadline = nil
            context.write(data, promise: promise)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            deadline?.cancel()
        }

        private func arm(_ context: ChannelHandlerContext) {
            guard deadline == nil else { return }
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { context.close(promise: nil) }
        }
    }
}
