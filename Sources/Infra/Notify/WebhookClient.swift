public import AsyncHTTPClient
import Crypto
public import Domain
public import Foundation
import NIOCore
import NIOHTTP1

/// Posts events to webhook endpoints: signed, within a deadline, never following a redirect,
/// reading at most 64 KiB of an answer, and never to an address the guard refuses.
public struct WebhookClient: Sendable {
    public struct Configuration: Sendable {
        /// The whole attempt, name resolution included.
        public var timeout: Duration = .seconds(5)
        /// Lifts the address guard (tests reach a receiver on loopback).
        public var allowPrivate = false
        public var maxResponseBytes = 64 * 1024

        public init(allowPrivate: Bool = false) { self.allowPrivate = allowPrivate }
    }

    let http: HTTPClient
    let configuration: Configuration

    public init(http: HTTPClient, configuration: Configuration) {
        self.http = http
        self.configuration = configuration
    }

    /// A client for deliveries: no redirects, no proxy, no decompression.
    public static func makeHTTPClient() -> HTTPClient {
        var config = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(5)))
        config.connectionPool = .init(idleTimeout: .seconds(30))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
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

    /// One attempt. Never throws: what went wrong is the attempt's `error`.
    public func post(_ event: ChangeEvent, to url: String, secret: String, attempt: Int) async -> WebhookDelivery {
        let started = ContinuousClock.now
        let at = Date()
        func result(_ status: Int?, _ error: String?) -> WebhookDelivery {
            let elapsed = ContinuousClock.now - started
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            return WebhookDelivery(eventID: event.eventID, event: event.event, sequence: event.sequence, attempt: attempt, attemptedAt: at,
                                   statusCode: status, latencyMs: ms, error: error)
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty
        else { return result(nil, "the url cannot be parsed") }
        let body = event.envelope
        do {
            let target = try await withDeadline(configuration.timeout) { try await self.target(components, scheme: scheme, host: host) }
            guard case .allowed(let requestURL, let hostHeader) = target else {
                if case .refused(let reason) = target { return result(nil, "refused: " + reason) }
                return result(nil, "refused")
            }
            var request = HTTPClientRequest(url: requestURL)
            request.method = .POST
            let timestamp = Int(at.timeIntervalSince1970)
            if let hostHeader { request.headers.add(name: "Host", value: hostHeader) }
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: ChangeEvent.service)
            request.headers.add(name: "X-AMS-Event", value: event.event)
            request.headers.add(name: "X-AMS-Delivery", value: event.eventID.uuidString.lowercased())
            request.headers.add(name: "X-AMS-Signature", value: Self.signature(secret: secret, timestamp: timestamp, body: body))
            request.body = .bytes(ByteBuffer(bytes: body))
            let remaining = configuration.timeout - (ContinuousClock.now - started)
            let response = try await http.execute(request, timeout: .nanoseconds(max(1, remaining.nanoseconds)))
            // The status is what counts; the body is read (up to the bound) only so that the
            // connection can be reused, and dropped past it.
            var read = 0
            for try await chunk in response.body {
                read += chunk.readableBytes
                if read > configuration.maxResponseBytes { break }
            }
            let status = Int(response.status.code)
            return result(status, (200..<300).contains(status) ? nil : "answered \(status)")
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

    private enum Target {
        case allowed(url: String, host: String?)
        case refused(String)
    }

    /// Resolves the host and applies the guard. Plain http is sent to the address that was checked
    /// (with the original Host header), so a name cannot resolve to another address in between;
    /// https keeps the name, which TLS verifies.
    private func target(_ components: URLComponents, scheme: String, host: String) async throws -> Target {
        guard scheme == "http" || scheme == "https" else { return .refused("only http and https urls are called") }
        let addresses = try await AddressResolver.resolve(host)
        if !configuration.allowPrivate, let reason = Self.refusal(host: host, addresses: addresses) { return .refused(reason) }
        guard scheme == "http", let address = addresses.first else { return .allowed(url: components.string ?? "", host: nil) }
        var pinned = components
        let literal = AddressResolver.text(address)
        pinned.percentEncodedHost = literal
        let authority = (host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host) + (components.port.map { ":\($0)" } ?? "")
        return .allowed(url: pinned.string ?? "", host: authority)
    }

    struct DeadlineExceeded: Error {}

    private func withDeadline<R: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: timeout); return nil }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
            return value
        }
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
