import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy for partition tests. `partition()` makes every connection stop forwarding
/// without closing anything, as a network that silently drops packets does; connections accepted
/// while partitioned are held open and never forwarded. `heal()` lets new connections through again;
/// the ones cut stay cut, so only a client that closes and reconnects recovers.
final class TCPProxy: Sendable {
    let port: Int
    private let server: any Channel
    private let registry: Registry

    init(upstreamHost: String, upstreamPort: Int) async throws {
        let registry = Registry()
        self.registry = registry
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                let link = registry.accept()
                inbound.closeFuture.whenComplete { _ in registry.clientClosed() }
                guard !link.isCut else {
                    // Read and drop, so a client closing it is still seen.
                    return inbound.eventLoop.makeCompletedFuture {
                        try inbound.pipeline.syncOperations.addHandler(Forward(partner: nil, link: link))
                        inbound.setOption(.autoRead, value: true).whenComplete { _ in }
                    }
                }
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: upstreamHost, port: upstreamPort)
                    .flatMapThrowing { outbound in
                        try outbound.pipeline.syncOperations.addHandler(Forward(partner: inbound, link: link))
                        try inbound.pipeline.syncOperations.addHandler(Forward(partner: outbound, link: link))
                        inbound.setOption(.autoRead, value: true).whenComplete { _ in }
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = server.localAddress?.port ?? 0
    }

    func partition() { registry.partition() }
    func heal() { registry.heal() }

    /// Connections the client side has closed so far.
    var closedByClients: Int { registry.closed.load(ordering: .relaxed) }

    func close() async throws { try await server.close() }

    final class Link: Sendable {
        private let cut: Atomic<Bool>
        init(cut: Bool) { self.cut = Atomic(cut) }
        var isCut: Bool { cut.load(ordering: .relaxed) }
        func sever() { cut.store(true, ordering: .relaxed) }
    }

    final class Registry: Sendable {
        private let state = Mutex<(partitioned: Bool, links: [Link])>((false, []))
        let closed = Atomic<Int>(0)

        func accept() -> Link {
            state.withLock { s in
                let link = Link(cut: s.partitioned)
                s.links.append(link)
                return link
            }
        }

        func partition() {
            state.withLock { s in
                s.partitioned = true
                for link in s.links { link.sever() }
            }
        }

        func heal() { state.withLock { $0.partitioned = false } }

        func clientClosed() { closed.add(1, ordering: .relaxed) }
    }

    /// Copies bytes to the partner channel until the link is cut; then drops them silently.
    final class Forward: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let partner: (any Channel)?
        let link: Link

        init(partner: (any Channel)?, link: Link) {
            self.partner = partner
            self.link = link
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !link.isCut, let partner else { return }
            partner.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !link.isCut { partner?.close(promise: nil) }
            context.fireChannelInactive()
        }
    }
}
