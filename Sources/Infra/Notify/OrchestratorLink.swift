import Foundation
import HummingbirdWSClient
public import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket
import Synchronization

/// One authenticated WebSocket connection to the orchestrator (protocol fixed by the platform).
///
/// Built on hummingbird-websocket's client connection, with a channel of our own: its
/// `WebSocketClient` answers and swallows pongs, and a pong is how the orchestrator confirms what it
/// read. Frames from the orchestrator come out as `Confirmation`s; pings carry the sequence they
/// confirm, so the pong that echoes one names it.
public struct OrchestratorLink: Sendable {
    public struct Configuration: Sendable {
        /// `ws://` or `wss://` (`AMS_ORCHESTRATOR_WS_URL`).
        public var url: String
        /// Presented in the first frame (`AMS_SERVICE_TOKEN`).
        public var serviceToken: String
        public var serviceName = "agent-management-service"
        /// Connecting, upgrading and the orchestrator's `{"status": "authenticated"}` together.
        public var authTimeout = Duration.seconds(10)

        public init(url: String, serviceToken: String) {
            self.url = url
            self.serviceToken = serviceToken
        }
    }

    /// What the orchestrator has read: everything up to the sequence, by an `{"ack": n}` frame
    /// or by the pong to a ping sent after those events.
    public enum Confirmation: Sendable, Equatable {
        case ack(Int64)
        case pong(Int64)
    }

    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends text frames and pings; each write waits until the channel takes it, so a slow
    /// orchestrator slows the sender instead of filling memory.
    public struct Writer: Sendable {
        fileprivate let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
        fileprivate let channel: any Channel

        /// Closes the connection at once: a write waiting on an orchestrator that stopped reading
        /// fails instead of waiting for ever.
        public func abort() { channel.close(promise: nil) }

        public func send(_ text: [UInt8]) async throws {
            try await outbound.write(Self.frame(.text, ByteBuffer(bytes: text)))
        }

        /// A ping whose pong confirms everything sent before it, up to `sequence`.
        public func ping(_ sequence: Int64) async throws {
            var data = ByteBuffer()
            data.writeInteger(sequence)
            try await outbound.write(Self.frame(.ping, data))
        }

        fileprivate static func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
            // A client masks every frame (RFC 6455, 5.3).
            WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: data)
        }
    }

    let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Connects and authenticates within `authTimeout`, then runs `session` with a writer and the
    /// orchestrator's confirmations; the connection is closed when `session` ends. Throws `Refused`
    /// when the orchestrator answers the handshake with anything but `authenticated`.
    public func run(_ session: @escaping @Sendable (Writer, AsyncThrowingStream<Confirmation, any Error>) async throws -> Void) async throws {
        let target = try Target(configuration.url)
        let authenticated = Flag()
        let channel = try OrchestratorChannel(
            target: target,
            configuration: configuration,
            logger: logger,
            session: session,
            authenticated: { authenticated.set() }
        )
        let limit = configuration.authTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await ClientConnection(channel, address: .hostname(target.host, port: target.port), logger: logger).run() }
            group.addTask {
                try await Task.sleep(for: limit)
                guard authenticated.isSet else {
                    throw Refused(description: "the orchestrator did not authenticate the service within \(limit)")
                }
                try await Task.sleep(for: .seconds(86_400 * 365))
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Where `url` points (public so that configuration is checked at start).
    public struct Target: Sendable {
        var host: String
        var port: Int
        var tls: Bool
        var path: String

        public init(_ url: String) throws {
            guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), scheme == "ws" || scheme == "wss",
                let host = parts.host, !host.isEmpty
            else { throw Refused(description: "AMS_ORCHESTRATOR_WS_URL must be a ws:// or wss:// URL") }
            self.host = host
            self.tls = scheme == "wss"
            self.port = parts.port ?? (tls ? 443 : 80)
            let path = parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath
            self.path = parts.percentEncodedQuery.map { path + "?" + $0 } ?? path
        }

        var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return (tls && port == 443) || (!tls && port == 80) ? name : "\(name):\(port)"
        }
    }
}

/// Set once, read from another task.
private final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

/// Upgrades to a WebSocket, authenticates and hands raw frames to the session.
private struct OrchestratorChannel: ClientConnectionChannel {
    enum Upgrade {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    /// The upgrade's outcome, and the channel to close if the wait for it is given up.
    struct Value: Sendable {
        let channel: any Channel
        let upgrade: EventLoopFuture<Upgrade>
    }
    typealias Session = @Sendable (OrchestratorLink.Writer, AsyncThrowingStream<OrchestratorLink.Confirmation, any Error>) async throws -> Void

    let target: OrchestratorLink.Target
    let configuration: OrchestratorLink.Configuration
    let logger: Logger
    let session: Session
    let authenticated: @Sendable () -> Void
    let tls: NIOSSLContext?

    init(
        target: OrchestratorLink.Target,
        configuration: OrchestratorLink.Configuration,
        logger: Logger,
        session: @escaping Session,
        authenticated: @escaping @Sendable () -> Void
    ) throws {
        self.target = target
        self.configuration = configuration
        self.logger = logger
        self.session = session
        self.authenticated = authenticated
        self.tls = target.tls ? try NIOSSLContext(configuration: .makeClientConfiguration()) : nil
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 1 << 16) { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    // Whole messages, even if the orchestrator fragments them; control frames pass through.
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 16)
                    )
                    return .websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                }
            }
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: target.hostHeader)
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
            let upgrade = NIOTypedHTTPClientUpgradeConfiguration(
                upgradeRequestHead: head,
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { $0.eventLoop.makeCompletedFuture { .refused } }
            )
            var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade)
            pipeline.leftOverBytesStrategy = .forwardBytes
            if let tls {
                // SNI names a host, never an address.
                let named = target.host.contains(":") || target.host.allSatisfy { $0.isNumber || $0 == "." } ? nil : target.host
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: named), position: .first)
            }
            return Value(
                channel: channel,
                upgrade: try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
            )
        }
    }

    /// Whatever ends the wait (the auth deadline, shutdown) closes the channel: NIO's futures and
    /// writes do not end on cancellation by themselves.
    func handle(value: Value, logger: Logger) async throws {
        try await withTaskCancellationHandler {
            try await converse(value)
        } onCancel: {
            value.channel.close(promise: nil)
        }
    }

    private func converse(_ value: Value) async throws {
        guard case .websocket(let socket) = try await value.upgrade.get() else {
            throw OrchestratorLink.Refused(description: "the orchestrator did not upgrade to a WebSocket")
        }
        try await socket.executeThenClose { inbound, outbound in
            let writer = OrchestratorLink.Writer(outbound: outbound, channel: value.channel)
            let (ready, readied) = AsyncThrowingStream.makeStream(of: Void.self)
            let (confirmations, confirm) = AsyncThrowingStream.makeStream(of: OrchestratorLink.Confirmation.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The one reader of the socket: the handshake's answer, then confirmations.
                group.addTask {
                    var frames = inbound.makeAsyncIterator()
                    do {
                        try await authenticate(writer, &frames)
                        readied.yield()
                        readied.finish()
                        while let frame = try await frames.next() {
                            if let confirmation = try await Self.read(frame, writer) { confirm.yield(confirmation) }
                        }
                        throw OrchestratorLink.Refused(description: "the orchestrator closed the connection")
                    } catch {
                        readied.finish(throwing: error)
                        confirm.finish(throwing: error)
                    }
                }
                defer { group.cancelAll() }
                // Only the orchestrator's yes counts: a stream ended by cancellation says nothing.
                var accepted = false
                for try await _ in ready { accepted = true }
                guard accepted else { throw CancellationError() }
                authenticated()
                try await session(writer, confirmations)
                // A clean end (shutdown, leadership lost) says goodbye.
                var reason = ByteBuffer()
                reason.write(webSocketErrorCode: .goingAway)
                try? await outbound.write(OrchestratorLink.Writer.frame(.connectionClose, reason))
            }
        }
    }

    /// Sends the service's credentials and waits for `{"status": "authenticated"}` as the next
    /// message (the caller bounds the wait).
    private func authenticate(
        _ writer: OrchestratorLink.Writer,
        _ frames: inout NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator
    ) async throws {
        let hello = try JSONSerialization.data(withJSONObject: [
            "service_token": configuration.serviceToken, "service_name": configuration.serviceName,
        ])
        try await writer.send(Array(hello))
        while let frame = try await frames.next() {
            switch frame.opcode {
            case .text, .binary:
                let answer = try? JSONSerialization.jsonObject(with: Data(frame.unmaskedData.readableBytesView)) as? [String: Any]
                guard answer?["status"] as? String == "authenticated" else {
                    throw OrchestratorLink.Refused(description: "the orchestrator refused the service token")
                }
                return
            case .connectionClose:
                throw OrchestratorLink.Refused(description: "the orchestrator closed the connection while authenticating")
            case .ping:
                try await writer.outbound.write(OrchestratorLink.Writer.frame(.pong, frame.unmaskedData))
            default:
                continue
            }
        }
        throw OrchestratorLink.Refused(description: "the orchestrator closed the connection while authenticating")
    }

    /// A pong that echoes one of our pings, an `{"ack": n}` frame, or nothing to act on. Pings are
    /// answered here; a close frame ends the stream.
    private static func read(_ frame: WebSocketFrame, _ writer: OrchestratorLink.Writer) async throws -> OrchestratorLink.Confirmation? {
        switch frame.opcode {
        case .pong:
            var data = frame.unmaskedData
            return data.readableBytes == 8 ? data.readInteger(as: Int64.self).map { .pong($0) } : nil
        case .ping:
            try await writer.outbound.write(OrchestratorLink.Writer.frame(.pong, frame.unmaskedData))
            return nil
        case .text, .binary:
            let message = try? JSONSerialization.jsonObject(with: Data(frame.unmaskedData.readableBytesView)) as? [String: Any]
            guard let ack = message?["ack"] as? NSNumber else { return nil }
            return .ack(ack.int64Value)
        case .connectionClose:
            throw OrchestratorLink.Refused(description: "the orchestrator closed the connection")
        default:
            return nil
        }
    }
}
