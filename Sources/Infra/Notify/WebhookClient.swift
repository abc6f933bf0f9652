public import AsyncHTTPClient
import Crypto
public import Domain
public import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Tracing

/// Posts events to webhook endpoints: signed as Standard Webhooks specifies, the whole attempt (name
/// lookup, connect, answer and its body) within the deadline, never following a redirect, reading at
/// most 64 KiB of an answer, and only ever to an address the guard accepts: the connection goes to
/// the very address that was checked, so a name cannot resolve to another one in between (DNS rebinding).
public struct WebhookClient: Sendable {
    public struct Configuration: Sendable {
        /// The whole attempt.
        public var timeout: Duration = .seconds(5)
        /// Lifts the address guard (tests reach a receiver on loopback).
        public var allowPrivate = false
        public var maxResponseBytes = 64 * 1024

        public init(allowPrivate: Bool = false) { self.allowPrivate = allowPrivate }
    }

    let http: HTTPClient
    let resolver: AddressResolver
    let configuration: Configuration
    let traces: Traces

    public init(http: HTTPClient, resolver: AddressResolver, configuration: Configuration, traces: Traces = .off) {
        self.http = http
        self.resolver = resolver
        self.configuration = configuration
        self.traces = traces
    }

    /// No redirects, no proxy, no decompression.
    static func clientConfiguration() -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(5)))
        config.connectionPool = .init(idleTimeout: .seconds(30))
        return config
    }

    /// The client for plain-http deliveries, which go to the checked address with the original Host.
    public static func makeHTTPClient() -> HTTPClient {
        HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration())
    }

    /// The Standard Webhooks `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`
    /// for each secret (its key: `WebhookSecret.key`), space-separated; a receiver accepts any one.
    public static func signature(secrets: [String], id: String, timestamp: Int, body: [UInt8]) -> String {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed.append(contentsOf: body)
        return secrets.map { secret in
            let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: WebhookSecret.key(secret)))
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }

    /// The headers of a delivery besides the transport's: the event's name, `X-AMS-Delivery` (the
    /// `event_id`, as receivers written before Standard Webhooks deduplicate on it), and the Standard
    /// Webhooks `webhook-id` (the same id), `webhook-timestamp` (unix seconds) and `webhook-signature`.
    public static func headers(_ event: ChangeEvent, secrets: [String], at: Date, body: [UInt8]) -> [(name: String, value: String)] {
        let id = event.eventID.uuidString.lowercased()
        let timestamp = Int(at.timeIntervalSince1970)
        return [
            ("X-AMS-Event", event.event),
            ("X-AMS-Delivery", id),
            ("webhook-id", id),
            ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signature(secrets: secrets, id: id, timestamp: timestamp, body: body)),
        ]
    }

    /// Why a URL's host may not be called: the class of the first refused address it resolves to.
    public static func refusal(host: String, addresses: [[UInt8]]) -> String? {
        for address in addresses {
            if let kind = AddressClass.of(address) {
                return "\(host) resolves to \(AddressResolver.text(address)), a \(kind.rawValue) address, which webhooks may not reach"
            }
        }
        return nil
    }

    /// One attempt; what went wrong is the attempt's `error`. `nil`: not attempted, as this
    /// service had no lookup to spare (not the receiver's failure; try again later). An event
    /// written in a trace is delivered with its `traceparent` header: with tracing on, that of the
    /// attempt's CLIENT span in the event's trace; off, the event's own.
    public func post(_ event: ChangeEvent, to url: String, secrets: [String], attempt: Int) async -> WebhookDelivery? {
        guard let parent = traces.context(traceparent: event.traceparent) else {
            return await deliver(event, to: url, secrets: secrets, attempt: attempt)
        }
        return await traces.withSpan("POST", kind: .client, parent: parent) { span in
            var traced = event
            traced.traceparent = traces.traceparent() ?? event.traceparent
            let delivery = await deliver(traced, to: url, secrets: secrets, attempt: attempt)
            span?.updateAttributes { attributes in
                attributes["http.request.method"] = "POST"
                attributes["http.response.status_code"] = delivery?.statusCode
            }
            if delivery?.error != nil { span?.setStatus(SpanStatus(code: .error)) }
            return delivery
        }
    }

    private func deliver(_ event: ChangeEvent, to url: String, secrets: [String], attempt: Int) async -> WebhookDelivery? {
        let started = ContinuousClock.now
        let at = Date()
        func result(_ status: Int?, _ error: String?) -> WebhookDelivery {
            let elapsed = ContinuousClock.now - started
            let ms = elapsed.seconds * 1000
            return WebhookDelivery(
                eventID: event.eventID,
                event: event.event,
                sequence: event.sequence,
                attempt: attempt,
                attemptedAt: at,
                statusCode: status,
                latencyMs: ms,
                error: error
            )
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty
        else { return result(nil, "the url cannot be parsed") }
        guard scheme == "http" || scheme == "https" else { return result(nil, "refused: only http and https urls are called") }
        do {
            let outcome = try await withDeadline(started + configuration.timeout) {
                try await self.send(
                    event,
                    components: components,
                    scheme: scheme,
                    host: host,
                    secrets: secrets,
                    at: at,
                    deadline: started + self.configuration.timeout
                )
            }
            switch outcome {
            case .refused(let reason): return result(nil, "refused: " + reason)
            case .answered(let status): return result(status, (200..<300).contains(status) ? nil : "answered \(status)")
            }
        } catch is AddressResolver.Busy {
            return nil
        } catch is DeadlineExceeded {
            return result(nil, "no answer within \(configuration.timeout)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return result(nil, "no answer within \(configuration.timeout)")
        } catch let error as AddressResolver.Failure {
            return result(nil, error.description)
        } catch {
            return result(nil, "request failed: \(String(describing: error).prefix(200))")
        }
    }

    private enum Outcome: Sendable {
        case answered(Int)
        case refused(String)
    }

    /// Resolves, checks, connects to the checked address and reads the answer. Plain http goes
    /// through the shared client to the address literal with the original Host header; https through
    /// a client of its own whose name override pins the address while TLS still verifies the name.
    private func send(
        _ event: ChangeEvent,
        components: URLComponents,
        scheme: String,
        host: String,
        secrets: [String],
        at: Date,
        deadline: ContinuousClock.Instant
    ) async throws -> Outcome {
        let addresses = try await resolver.resolve(host, within: deadline - .now)
        if !configuration.allowPrivate, let reason = Self.refusal(host: host, addresses: addresses) { return .refused(reason) }
        // All were checked; an IPv4 one first, as a host without IPv6 routes is common.
        let address = addresses.first { $0.count == 4 } ?? addresses[0]
        let body = event.envelope
        var request = HTTPClientRequest(url: components.string ?? "")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: ChangeEvent.service)
        for (name, value) in Self.headers(event, secrets: secrets, at: at, body: body) { request.headers.add(name: name, value: value) }
        if let traceparent = event.traceparent { request.headers.add(name: Traces.header, value: traceparent) }
        request.body = .bytes(ByteBuffer(bytes: body))
        if scheme == "http" {
            var pinned = components
            pinned.percentEncodedHost = AddressResolver.text(address)
            request.url = pinned.string ?? ""
            let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            request.headers.add(name: "Host", value: name + (components.port.map { ":\($0)" } ?? ""))
            return try await exchange(request, on: http, deadline: deadline)
        }
        var config = Self.clientConfiguration()
        // Keyed as written and lowercased, so that the client's own spelling of the host finds it.
        let name = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        config.dnsOverride = [name: AddressResolver.bare(address), name.lowercased(): AddressResolver.bare(address)]
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
        do {
            let outcome = try await exchange(request, on: client, deadline: deadline)
            try? await client.shutdown()
            return outcome
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The status; the body is read (up to the bound) only so that the connection can be reused,
    /// and dropped past it.
    private func exchange(_ request: HTTPClientRequest, on client: HTTPClient, deadline: ContinuousClock.Instant) async throws -> Outcome {
        let response = try await client.execute(request, timeout: .nanoseconds(max(1, (deadline - .now).nanoseconds)))
        var read = 0
        for try await chunk in response.body {
            read += chunk.readableBytes
            if read > configuration.maxResponseBytes { break }
        }
        return .answered(Int(response.status.code))
    }

    struct DeadlineExceeded: Error {}

    /// Runs `body` until `deadline`, then cancels it (a request and its body read stop when cancelled).
    private func withDeadline<R: Sendable>(_ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(until: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
            return value
        }
    }
}
