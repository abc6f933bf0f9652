import Domain
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real WebSocket server playing the orchestrator: it checks the handshake, records what
/// arrives, and can refuse, go away, stop reading (so pings go unanswered) or acknowledge.
final class StandInOrchestrator: Sendable {
    static let token = "stand-in-service-token"

    struct State {
        /// Refuse the handshake (answer `{"status": "denied"}`).
        var refuse = false
        /// Say nothing after the handshake's first frame.
        var silent = false
        /// Refuse upgrades and end open connections.
        var down = false
        /// Stop reading after this many frames (pings then go unanswered too).
        var deafAfter: Int?
        /// Acknowledge every envelope with `{"ack": sequence}`; or send this one ack right after the handshake.
        var acks = false
        var bogusAck: Int64?
        /// A pong no ping asked for, right after the handshake, carrying this sequence.
        var bogusPong: Int64?
        /// When each connection was attempted (an upgrade request arrived).
        var attempts: [ContinuousClock.Instant] = []
        /// When each handshake was refused.
        var refusals: [ContinuousClock.Instant] = []
        var hellos: [JSONValue] = []
        var helloTimes: [ContinuousClock.Instant] = []
        /// Every text frame after the handshake, in arrival order, with when it came.
        var frames: [(json: JSONValue, at: Date)] = []
        var open = 0
        var mostOpen = 0
    }

    let state = Mutex(State())
    private let bound = Atomic<Int>(0)
    private let server = Mutex<Task<Void, any Error>?>(nil)

    var port: Int { bound.load(ordering: .relaxed) }
    var url: String { "ws://127.0.0.1:\(port)/ws" }

    /// Listens on a free loopback port until `stop()`.
    static func start() async throws -> StandInOrchestrator {
        let standIn = StandInOrchestrator()
        let (bound, boundTo) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade { request, _, _ in
                let down = standIn.state.withLock { s in
                    s.attempts.append(.now)
                    return s.down
                }
                guard request.path == "/ws", !down else { return .dontUpgrade }
                return .upgrade([:]) { inbound, outbound, _ in
                    try await standIn.serve(inbound, outbound)
                }
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "stand-in-orchestrator"),
            onServerRunning: { channel in
                boundTo.yield(channel.localAddress?.port ?? 0)
                boundTo.finish()
            },
            logger: Logger(label: "stand-in")
        )
        standIn.server.withLock {
            $0 = Task { try await ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "stand-in"))).run() }
        }
        for await port in bound { standIn.bound.store(port, ordering: .relaxed) }
        return standIn
    }

    /// Ends the server (the task holds the stand-in, so tests stop it in a `defer`).
    func stop() { server.withLock { $0?.cancel() } }

    func update(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }

    var envelopes: [JSONValue] { state.withLock { $0.frames.map(\.json).filter { $0["event_id"] != nil } } }

    private func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        state.withLock { s in
            s.open += 1
            s.mostOpen = max(s.mostOpen, s.open)
        }
        defer { state.withLock { $0.open -= 1 } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !self.state.withLock({ $0.down }) { try await Task.sleep(for: .milliseconds(50)) }
            }
            group.addTask { try await self.converse(inbound, outbound) }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func converse(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        guard case .text(let first)? = try await messages.next(), let hello = JSONValue.parse(Array(first.utf8)) else { return }
        let (refuse, silent, bogus, bogusPong) = state.withLock { s in
            s.hellos.append(hello)
            s.helloTimes.append(.now)
            return (s.refuse, s.silent, s.bogusAck, s.bogusPong)
        }
        if silent { try await Task.sleep(for: .seconds(3600)) }
        guard !refuse, hello["service_token"] == .string(Self.token), hello["service_name"] == .string(ChangeEvent.service) else {
            try await outbound.write(.text(#"{"status":"denied"}"#))
            state.withLock { $0.refusals.append(.now) }
            return
        }
        try await outbound.write(.text(#"{"status":"authenticated"}"#))
        if let bogus { try await outbound.write(.text(#"{"ack":\#(bogus)}"#)) }
        if let bogusPong {
            var data = ByteBuffer()
            data.writeInteger(bogusPong)
            try await outbound.write(.custom(.init(fin: true, opcode: .pong, data: data)))
        }
        var read = 0
        while true {
            if let deaf = state.withLock({ $0.deafAfter }), read >= deaf {
                // Reads nothing more: pings wait unanswered.
                try await Task.sleep(for: .seconds(3600))
            }
            guard case .text(let text)? = try await messages.next() else { return }
            read += 1
            guard let json = JSONValue.parse(Array(text.utf8)) else { continue }
            let ack = state.withLock { s in
                s.frames.append((json, Date()))
                return s.acks ? json["sequence"] : nil
            }
            if let ack, case .int(let n) = ack { try await outbound.write(.text(#"{"ack":\#(n)}"#)) }
        }
    }
}
