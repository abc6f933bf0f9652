import Domain
import Foundation
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle

/// `GET /v1/ws`: a tenant's events, live, over a WebSocket (sink 2). The token comes in the
/// `Authorization` header, or in a first frame `{"token": "<JWT>"}` within `authTimeout`; a
/// service token names its tenant in `X-Tenant-ID` (or `tenant_id` in that frame). `?since=N`
/// first replays the tenant's events after sequence N. An upgrade request is always upgraded: a
/// refusal is a close frame (1008) whose reason starts with the error's code, since a refused
/// upgrade could only be a bare 400. A plain GET is answered by the router (`EventSocketRoutes`).
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
    /// Closes a subscriber that could not keep up, or one too many (RFC 6455 "try again later").
    static let tryAgainLater = WebSocketErrorCode(codeNumber: 1013)

    func shouldUpgrade(_ request: HTTPRequest, channel: any Channel) async -> ShouldUpgradeResult<Handler> {
        guard request.method == .get, let target = request.path else { return .dontUpgrade }
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.first == Self.path[...] else { return .dontUpgrade }
        let since = Self.since(parts.count > 1 ? parts[1] : nil)
        let tenantHeader = request.headerFields[.tenantID]
        var identity: Result<Identity, ServiceError>?
        if let token = request.headerFields[.authorization]?.bearerToken {
            identity = await authenticate(token: String(token), tenantHeader: tenantHeader)
        }
        let known = identity
        return .upgrade([:]) { inbound, outbound, context in
            await serve(
                identity: known,
                tenantHeader: tenantHeader,
                since: since,
                inbound: inbound,
                outbound: outbound,
                channel: channel,
                logger: context.logger
            )
        }
    }

    /// `since` from the query: absent is `.some(nil)`, malformed is `nil`.
    static func since(_ query: Substring?) -> Int64?? {
        guard let query, !query.isEmpty else { return .some(nil) }
        var since: Int64?? = .some(nil)
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.first == "since" else { continue }
            guard kv.count == 2, let value = Int64(kv[1]), value >= 0 else { return nil }
            since = .some(value)
        }
        return since
    }

    private func authenticate(token: String, tenantHeader: String?) async -> Result<Identity, ServiceError> {
        do {
            let identity = try await AuthMiddleware.identity(token: token, tenantHeader: tenantHeader, scope: .tenant, verifier: verifier)
            try identity.require(.read)
            return .success(identity)
        } catch let error as ServiceError {
            return .failure(error)
        } catch {
            return .failure(ServiceError(.invalidToken, "Invalid token"))
        }
    }

    private func serve(
        identity: Result<Identity, ServiceError>?,
        tenantHeader: String?,
        since: Int64??,
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        channel: any Channel,
        logger: Logger
    ) async {
        let (tokens, token) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Bool.self) { group in
            // Reads what the peer sends: a first frame with the token, then nothing but the close.
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: 64 * 1024) {
                        if case .text(let text) = message { token.yield(text) }
                    }
                } catch {}
                token.finish()
                return true
            }
            group.addTask {
                do {
                    guard let since else {
                        try await outbound.close(.policyViolation, reason: "AMS-109: since must be a whole number of 0 or more")
                        return false
                    }
                    var who = identity
                    if who == nil { who = await firstFrame(tokens, tenantHeader: tenantHeader) }
                    switch who {
                    case .success(let identity)?:
                        guard let tenant = identity.tenantID else {
                            try await outbound.close(.policyViolation, reason: "AMS-205: no tenant named")
                            return false
                        }
                        try await cancelWhenGracefulShutdown {
                            try await send(tenant: tenant, since: since, outbound: outbound, channel: channel)
                        }
                    case .failure(let error)?:
                        try await outbound.close(.policyViolation, reason: "\(error.code.rawValue): \(error.message)")
                    case nil:
                        try await outbound.close(.policyViolation, reason: "AMS-201: authentication required")
                    }
                } catch {
                    logger.debug("event subscriber ended", metadata: ["error": "\(error)"])
                }
                return false
            }
            // The sender is done (its close frame sent): the peer has a moment to answer it.
            if await group.next() == false {
                group.addTask {
                    try? await Task.sleep(for: .seconds(1))
                    return false
                }
                _ = await group.next()
            }
            group.cancelAll()
        }
    }

    /// The identity of the first frame's token; `nil` when none came in time.
    private func firstFrame(_ frames: AsyncStream<String>, tenantHeader: String?) async -> Result<Identity, ServiceError>? {
        await withTaskGroup(of: Result<Identity, ServiceError>?.self) { group in
            group.addTask {
                guard let text = await frames.first(where: { _ in true }) else { return nil }
                guard let frame = JSONValue.parse(Array(text.utf8)), let token = frame["token"]?.stringValue else {
                    return .failure(ServiceError(.missingToken, "the first frame must be {\"token\": \"<JWT>\"}"))
                }
                return await authenticate(token: token, tenantHeader: frame["tenant_id"]?.stringValue ?? tenantHeader)
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

    private func send(tenant: TenantID, since: Int64?, outbound: WebSocketOutboundWriter, channel: any Channel) async throws {
        // A sender stuck on a full socket gets a moment to send its close frame, then the
        // connection goes.
        let subscribed = subscribers.subscribe(tenant) {
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
        guard let (id, live) = subscribed else {
            try await outbound.close(Self.tryAgainLater, reason: "too many subscribers for this tenant; try again later")
            return
        }
        defer { subscribers.forget(id) }
        // Subscribed before the replay, and the replay starts once the sink knows where it
        // starts, so nothing committed meanwhile falls between the two.
        await subscribers.started()
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
            if subscribers.overflowed(id) { break }
            try await outbound.writeTextMessage(String(decoding: event.envelope, as: UTF8.self))
            last = event.sequence
        }
        if subscribers.overflowed(id) {
            try await outbound.close(Self.tryAgainLater, reason: "the subscriber fell behind; reconnect with since=\(last)")
        } else {
            try await outbound.close(.goingAway, reason: "the service is shutting down; reconnect with since=\(last)")
        }
    }
}
