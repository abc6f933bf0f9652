import Crypto
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP server receiving webhook deliveries: it records each request, checks its
/// signature against the endpoint's secret, and answers as scripted (a status per request, a
/// delay, a redirect).
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        var path: String
        var event: String?
        /// `webhook-id`, `webhook-timestamp` and `webhook-signature`.
        var deliveryID: String?
        var timestamp: String?
        var signature: String?
        var body: [UInt8]
        var json: JSONValue? { JSONValue.parse(body) }
    }

    enum Body: Sendable {
        /// `{}`.
        case small
        /// 200, then one byte every 200 ms, for a minute.
        case trickle
        /// 200, then 16 KiB a millisecond for as long as the client reads (64 MiB, over 4 s at least).
        case endless
    }

    struct State {
        /// Answers for the next requests, first first; 200 once they run out.
        var answers: [Int] = []
        /// The body of each answer, per path (`.small` when absent).
        var bodies: [String: Body] = [:]
        /// Requests whose answer waits this long first (counted down per request).
        var slow: [Duration] = []
        var received: [Delivery] = []
    }

    let state = Mutex(State())
    private let bound = Atomic<Int>(0)
    private let server = Mutex<Task<Void, any Error>?>(nil)

    var port: Int { bound.load(ordering: .relaxed) }
    func url(_ path: String = "hook") -> String { "http://127.0.0.1:\(port)/\(path)" }
    var received: [Delivery] { state.withLock { $0.received } }

    static func start() async throws -> WebhookReceiver {
        let receiver = WebhookReceiver()
        let router = Router()
        // A followed redirect would come back as a GET: it is recorded too.
        router.get("**") { request, _ -> Response in
            receiver.state.withLock {
                $0.received.append(Delivery(path: request.uri.path, event: nil, deliveryID: nil, timestamp: nil, signature: nil, body: []))
            }
            return Response(status: .ok)
        }
        router.post("**") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let (answer, delay, kind) = receiver.state.withLock { s in
                s.received.append(
                    Delivery(
                        path: request.uri.path,
                        event: request.headers[HTTPField.Name("X-AMS-Event")!],
                        deliveryID: request.headers[HTTPField.Name("webhook-id")!],
                        timestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
                        signature: request.headers[HTTPField.Name("webhook-signature")!],
                        body: Array(buffer: body)
                    )
                )
                return (
                    s.answers.isEmpty ? 200 : s.answers.removeFirst(), s.slow.isEmpty ? nil : s.slow.removeFirst(),
                    s.bodies[request.uri.path] ?? .small
                )
            }
            if let delay { try? await Task.sleep(for: delay) }
            if answer == 302 { return Response(status: .found, headers: [.location: "/elsewhere"]) }
            switch kind {
            case .small:
                return Response(status: .init(code: answer), body: .init(byteBuffer: ByteBuffer(string: "{}")))
            case .trickle:
                return Response(
                    status: .init(code: answer),
                    body: .init { writer in
                        for _ in 0..<300 {
                            try await writer.write(ByteBuffer(string: "."))
                            try await Task.sleep(for: .milliseconds(200))
                        }
                        try await writer.finish(nil)
                    }
                )
            case .endless:
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 16 * 1024)
                return Response(
                    status: .init(code: answer),
                    body: .init { writer in
                        for _ in 0..<4096 {
                            try await writer.write(chunk)
                            try await Task.sleep(for: .milliseconds(1))
                        }
                        try await writer.finish(nil)
                    }
                )
            }
        }
        let (bound, boundTo) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "webhook-receiver"),
            onServerRunning: { channel in
                boundTo.yield(channel.localAddress?.port ?? 0)
                boundTo.finish()
            },
            logger: Logger(label: "receiver")
        )
        receiver.server.withLock {
            $0 = Task { try await ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "receiver"))).run() }
        }
        for await port in bound { receiver.bound.store(port, ordering: .relaxed) }
        return receiver
    }

    func stop() { server.withLock { $0?.cancel() } }

    func update(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }

    /// Whether one of the delivery's `webhook-signature` entries is `v1,<base64 HMAC-SHA256>` over
    /// `"<webhook-id>.<webhook-timestamp>.<body>"`, keyed with the bytes the secret's base64 (after
    /// `whsec_`) decodes to, and it was signed within the last five minutes: Standard Webhooks' check.
    static func verify(_ delivery: Delivery, secret: String, now: Date = Date()) -> Bool {
        guard let id = delivery.deliveryID, let t = delivery.timestamp, let timestamp = Int(t), let header = delivery.signature,
            abs(now.timeIntervalSince1970 - Double(timestamp)) < 300,
            let key = Data(base64Encoded: String(secret.dropFirst(secret.hasPrefix("whsec_") ? 6 : 0)))
        else { return false }
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(id).\(t).".utf8) + delivery.body, using: SymmetricKey(data: key))
        let expected = "v1," + Data(mac).base64EncodedString()
        return header.split(separator: " ").contains { $0 == expected }
    }
}
