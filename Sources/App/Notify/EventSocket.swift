import Domain
import Foundation
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOWebSocket

/// `GET /v1/ws`: a tenant's events, live, over a WebSocket (sink 2). The token comes in the
/// `Authorization` header, or in a first frame `{"token": "<JWT>"}` within `authTimeout`; a
/// service token names its tenant in `X-Tenant-ID` (or `tenant_id` in that frame). `?since=N`
/// first replays the tenant's events after sequence N. A request the socket cannot take (a bad
/// token or `since`) is left to the router, which answers it in the error envelope.
struct EventSocket: Sendable {
    typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    let verifier: TokenVerifier
    let store: any EventStore
    let subscribers: Subscribers
    var authTimeout = Duration.seconds(5)
    var replayBatch = 500

    static let path = "/v1/ws"
    /// Closes a subscriber whose `since` is older than the events still kept: it must resync.
    static let resyncRequired = WebSocketErrorCode(codeNumber: 4000)
    /// Closes a subscriber that could not keep up (RFC 6455 "try again later").
    static let tryAgainLater = WebSocketErrorCode(codeNumber: 1013)

    func shouldUpgrade(_ request: HTTPRequest) async -> ShouldUpgradeResult<Handler> {
        guard request.method == .get, let target = request.path else { return .dontUpgrade }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.first == Self.path[...] else { return .dontUpgrade }
        guard let since = Self.since(parts.count > 1 ? parts[1] : nil) else { return .dontUpgrade }
        var identity: Identity?
        if let token = request.headerFields[.authorization]?.bearerToken {
            guard let known = try? await AuthMiddleware.identity(
                token: String(token), tenantHeader: request.headerFields[.tenantID], scope: .tenant, verifier: verifier),
                (try? known.require(.read)) != nil
            else { return .dontUpgrade }
            identity = known
        }
        let (header, known) = (request.headerFields[.tenantID], identity)
        return .upgrade([:]) { inbound, outbound, context in
            await serve(identity: known, tenantHeader: header, since: since, inbound: inbound, outbound: outbound, logger: context.logger)
        }
    }

    /// `since` from the query: absent is `.some(nil)`, malformed is `nil`.
    static func since(_ query: Substring?) -> Int64?? {
        guard let query, !query.isEmpty else { return .some(nil) }
        var since: Int64??  = .some(nil)
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.first == "since" else { continue }
            guard kv.count == 2, let value = Int64(kv[1]), value >= 0 else { return nil }
            since = .some(value)
        }
        return since
    }

    private func serve(
        identity: Identity?, tenantHeader: String?, since: Int64?, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger
    ) async {
        let (tokens, token) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            // Reads what the peer sends: a first frame with the token, then nothing but the close.
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: 64 * 1024) {
                        if case .text(let text) = message { token.yield(text) }
                    }
                } catch {}
                token.finish()
            }
            group.addTask {
                do {
                    var who = identity
                    if who == nil {
                        who = await authenticate(firstFrame: tokens, tenantHeader: tenantHeader)
                    }
                    guard let who, let tenant = who.tenantID, (try? who.require(.read)) != nil else {
                        try await outbound.close(.policyViolation, reason: "authentication failed")
                        return
                    }
                    try await send(tenant: tenant, since: since, outbound: outbound)
                } catch {
                    logger.debug("event subscriber ended", metadata: ["error": "\(error)"])
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// The identity of the first frame's token, if it comes in time and is good.
    private func authenticate(firstFrame: AsyncStream<String>, tenantHeader: String?) async -> Identity? {
        await withTaskGroup(of: Identity?.self) { group in
            group.addTask {
                guard let text = await firstFrame.first(where: { _ in true }), let frame = JSONValue.parse(Array(text.utf8)),
                      let token = frame["token"]?.stringValue else { return nil }
                return try? await AuthMiddleware.identity(
                    token: token, tenantHeader: frame["tenant_id"]?.stringValue ?? tenantHeader, scope: .tenant, verifier: verifier)
            }
            group.addTask {
                try? await Task.sleep(for: authTimeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func send(tenant: TenantID, since: Int64?, outbound: WebSocketOutboundWriter) async throws {
        // Subscribed before the replay, so nothing committed meanwhile falls between the two.
        let (id, live) = subscribers.subscribe(tenant)
        defer { subscribers.forget(id) }
        var last = Int64.min
        if let since {
            last = since
            while true {
                guard let page = try await store.events(tenant: tenant, after: last, limit: replayBatch) else {
                    try await outbound.close(Self.resyncRequired, reason: "resync required: events after \(since) are no longer kept")
                    return
                }
                for event in page {
                    try await outbound.writeTextMessage(String(decoding: event.envelope, as: UTF8.self))
                    last = event.sequence
                }
                if page.count < replayBatch { break }
            }
        }
        for await event in live where event.sequence > last {
            try await outbound.writeTextMessage(String(decoding: event.envelope, as: UTF8.self))
            last = event.sequence
        }
        if subscribers.overflowed(id) {
            try await outbound.close(Self.tryAgainLater, reason: "the subscriber fell behind; reconnect with since=\(last)")
        }
    }
}
