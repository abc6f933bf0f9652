import Dispatch
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
/// Like every request, an upgrade counts against the tenant's requests per minute and is counted
/// in `/metrics` and the access log (once it is admitted, status 101, or refused, the refusal's
/// status). The socket ends with the token's access: 1008 at its `exp` plus the leeway. Every
/// close but a refusal names the position to reconnect with (`since=N`).
struct EventSocket: Sendable {
    typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    let verifier: TokenVerifier
    let store: any EventStore
    let subscribers: Subscribers
    var authTimeout = Duration.seconds(5)
    var replayBatch = 500
    /// Gives the upgrade its request id, its count in `/metrics` and its access-log line.
    var envelope = EnvelopeMiddleware()
    /// Counts the upgrade against the tenant's requests per minute (`nil`: no rate limits).
    var rateLimit: RateLimitMiddleware?

    static let path = "/v1/ws"
    /// Closes a subscriber whose `since` is older than the events still kept: it must resync.
    static let resyncRequired = WebSocketErrorCode(codeNumber: 4000)
    /// Closes a subscriber that could not keep up, or one too many (RFC 6455 "try again later").
    static let tryAgainLater = WebSocketErrorCode(codeNumber: 1013)

    /// The reason of the close that says the service is stopping.
    static func shuttingDown(since position: Int64) -> String {
        "the service is shutting down; reconnect with since=\(position)"
    }

    /// Why a subscriber's events stopped.
    private enum Ending {
        /// The service is stopping (or the stream ended with it).
        case stopped
        case overflowed
        case resync
        /// A new subscription after a replay found the tenant's subscribers full.
        case crowded
        case expired
        /// Reading the events failed.
        case failed
    }

    /// The upgrade request, for its count and its access-log line.
    private struct Handshake {
        let started: UInt64
        let requestID: String
        /// The W3C trace id, when the caller sent one.
        let traceID: String?
    }

    func shouldUpgrade(_ request: HTTPRequest, channel: any Channel) async -> ShouldUpgradeResult<Handler> {
        let started = DispatchTime.now().uptimeNanoseconds
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
        let handshake = Handshake(
            started: started,
            requestID: envelope.requestID(request.headerFields),
            traceID: request.headerFields[.traceparent].flatMap(TraceParent.traceID).map(String.init)
        )
        return .upgrade([.requestID: handshake.requestID]) { inbound, outbound, context in
            await serve(
                identity: known,
                tenantHeader: tenantHeader,
                since: since,
                handshake: handshake,
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
        handshake: Handshake,
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
                    let (who, refusal) = await admit(identity, tenantHeader: tenantHeader, since: since, tokens: tokens)
                    record(handshake, status: refusal.map { $0.code.httpStatus } ?? 101, identity: who, logger: logger)
                    if let refusal {
                        try await outbound.close(.policyViolation, reason: "\(refusal.code.rawValue): \(refusal.message)")
                    } else if let who, let tenant = who.tenantID, let since {
                        try await cancelWhenGracefulShutdown {
                            try await send(tenant: tenant, since: since, expires: who.expires, outbound: outbound, channel: channel)
                        }
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

    /// Who subscribes, or why not (with who asked, when that is known): a `since` that is a
    /// position, a token for a tenant, and room in the tenant's requests per minute.
    private func admit(
        _ identity: Result<Identity, ServiceError>?,
        tenantHeader: String?,
        since: Int64??,
        tokens: AsyncStream<String>
    ) async -> (identity: Identity?, refusal: ServiceError?) {
        guard since != nil else { return (nil, .malformed("since must be a whole number of 0 or more", field: "since")) }
        var who = identity
        if who == nil { who = await firstFrame(tokens, tenantHeader: tenantHeader) }
        switch who {
        case .success(let identity)?:
            guard let tenant = identity.tenantID else { return (identity, ServiceError(.missingTenantHeader, "no tenant named")) }
            do {
                try await rateLimit?.count(tenant: tenant)
            } catch let error as ServiceError {
                return (identity, error)
            } catch {
                return (identity, ServiceError(.internalError, "Internal error").caused(by: String(describing: error)))
            }
            return (identity, nil)
        case .failure(let error)?:
            return (nil, error)
        case nil:
            return (nil, ServiceError(.missingToken, "authentication required"))
        }
    }

    /// The upgrade's count in `/metrics` and its access-log line, as the envelope writes them for
    /// every other request.
    private func record(_ handshake: Handshake, status: Int, identity: Identity?, logger: Logger) {
        var logger = logger
        if let traceID = handshake.traceID { logger[metadataKey: "trace_id"] = .string(traceID) }
        var notes: RequestNotes?
        if envelope.accessLog {
            let written = RequestNotes()
            written.tenantID = identity?.tenantID
            written.subject = identity?.subject
            notes = written
        }
        envelope.record(
            .get,
            route: Self.path,
            status: status,
            started: handshake.started,
            bytes: 0,
            requestID: handshake.requestID,
            notes: notes,
            logger: logger
        )
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

    private func send(tenant: TenantID, since: Int64?, expires: Date?, outbound: WebSocketOutboundWriter, channel: any Channel) async throws {
        // A sender that must stop may be stuck on a full socket: it gets a moment to send its close
        // frame, then the connection goes.
        let hangUp: @Sendable () -> Void = {
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
        // The close that HummingbirdWebSocket sends at shutdown names the position too.
        let position = ShutdownCloseHandler.Position()
        try await channel.eventLoop.submit {
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(ShutdownCloseHandler(position: position), position: .after(decoder))
        }.get()
        guard let subscription = subscribers.subscribe(tenant, replaying: since != nil, onOverflow: hangUp) else {
            try await outbound.close(Self.tryAgainLater, reason: "too many subscribers for this tenant; try again later")
            return
        }
        // Subscribed before the replay, and the replay starts once the sink knows where it
        // starts, so nothing committed meanwhile falls between the two. Without `since`, the
        // subscriber's position is where its live events start.
        await subscribers.started()
        var start = since ?? subscription.after ?? subscribers.first
        if start == nil { start = (try? await store.newestSequence()) ?? 0 }
        let from = start ?? 0
        position.reached(from)
        let (ending, reached) = await withTaskGroup(of: (ending: Ending, reached: Int64)?.self) { group in
            group.addTask {
                await stream(tenant, subscription, replay: since != nil, after: from, position: position, hangUp: hangUp, outbound: outbound)
            }
            if let expires {
                group.addTask {
                    // The token's access ends at its `exp` plus the leeway that verifying it allows.
                    let left = min(max(0, expires.timeIntervalSinceNow + verifier.leeway), 1e12)
                    do {
                        try await Task.sleep(for: .milliseconds(Int64(left * 1000)))
                    } catch {
                        return nil
                    }
                    return (.expired, from)
                }
            }
            var expired = false
            while let outcome = await group.next() {
                guard let outcome else { continue }
                guard case .expired = outcome.ending else {
                    group.cancelAll()
                    return (expired ? .expired : outcome.ending, outcome.reached)
                }
                expired = true
                hangUp()
                group.cancelAll()
            }
            return (.stopped, from)
        }
        switch ending {
        case .expired:
            try await outbound.close(.policyViolation, reason: "AMS-203: the token has expired; reconnect with a new one and since=\(reached)")
        case .overflowed:
            try await outbound.close(Self.tryAgainLater, reason: "the subscriber fell behind; reconnect with since=\(reached)")
        case .crowded:
            try await outbound.close(Self.tryAgainLater, reason: "too many subscribers for this tenant; reconnect later with since=\(reached)")
        case .failed:
            try await outbound.close(Self.tryAgainLater, reason: "the events could not be read; reconnect with since=\(reached)")
        case .resync:
            try await outbound.close(Self.resyncRequired, reason: "resync required: events after \(reached) are no longer kept")
        case .stopped:
            try await outbound.close(.goingAway, reason: Self.shuttingDown(since: reached))
        }
    }

    /// Replays the tenant's events after `start` (when `replay`), then sends them live; answers
    /// why it stopped and the sequence it reached. A live buffer that overflows during the replay
    /// costs nothing: the replay goes on from a new subscription until it catches up.
    private func stream(
        _ tenant: TenantID,
        _ first: (id: Int, events: AsyncStream<ChangeEvent>, after: Int64?),
        replay: Bool,
        after start: Int64,
        position: ShutdownCloseHandler.Position,
        hangUp: @escaping @Sendable () -> Void,
        outbound: WebSocketOutboundWriter
    ) async -> (ending: Ending, reached: Int64) {
        var subscription = first
        var reached = start
        defer { subscribers.forget(subscription.id) }
        do {
            while replay {
                while true {
                    guard let page = try await store.events(tenant: tenant, after: reached, limit: replayBatch) else { return (.resync, reached) }
                    for event in page {
                        try await outbound.writeTextMessage(String(decoding: event.envelope, as: UTF8.self))
                        reached = event.sequence
                        position.reached(reached)
                    }
                    // Stopping mid-replay ends here: the live buffer is ahead of what was replayed.
                    if subscribers.isFinished { return (.stopped, reached) }
                    if page.count < replayBatch { break }
                }
                if subscribers.caughtUp(subscription.id) { break }
                // What the live buffer dropped meanwhile is in the store: replay it from a new subscription.
                subscribers.forget(subscription.id)
                guard let again = subscribers.subscribe(tenant, replaying: true, onOverflow: hangUp) else {
                    return (subscribers.isFinished ? .stopped : .crowded, reached)
                }
                subscription = again
            }
            for await event in subscription.events where event.sequence > reached {
                if subscribers.overflowed(subscription.id) { break }
                try await outbound.writeTextMessage(String(decoding: event.envelope, as: UTF8.self))
                reached = event.sequence
                position.reached(reached)
            }
            return (subscribers.overflowed(subscription.id) ? .overflowed : .stopped, reached)
        } catch {
            return (Task.isCancelled ? .stopped : .failed, reached)
        }
    }
}
