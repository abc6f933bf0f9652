public import AsyncHTTPClient
import Crypto
public import Domain
public import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Posts events to webhook endpoints: signed, the whole attempt (name lookup, connect, answer and
/// its body) within the deadline, never following a redirect, reading at most 64 KiB of an answer,
/// and only ever to an address the guard accepts: the connection goes to the very address that
/// was checked, so a name cannot resolve to another one in between (DNS rebinding).
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

    public init(http: HTTPClient, resolver: AddressResolver, configuration: Configuration) {
        self.http = http
        self.resolver = resolver
        self.configuration = configuration
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

    /// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    public static func signature(secret: String, timestamp: Int, body: [UInt8]) -> String {
        var signed = Array("\(timestamp).".utf8)
        signed.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
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
    /// service had no lookup to spare (not the receiver's failure; try again later).
    public func post(_ event: ChangeEvent, to url: String, secret: String, attempt: Int) async -> WebhookDelivery? {
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
                    secret: secret,
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
        secret: String,
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
        request.headers.add(name: "X-AMS-Event", value: event.event)
        request.headers.add(name: "X-AMS-Delivery", value: event.eventID.uuidString.lowercased())
        request.headers.add(name: "X-AMS-Signature", value: Self.signature(secret: secret, timestamp: Int(at.timeIntervalSince1970), body: body))
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
