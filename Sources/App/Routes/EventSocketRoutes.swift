import Domain
import Hummingbird

/// `GET /v1/ws` without a WebSocket upgrade, or with one the socket refused: the same auth as
/// every `/v1` call answers a bad token; a bad `since` is 400; otherwise the caller must upgrade.
struct EventSocketRoutes: Sendable {
    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("ws", use: refuse)
    }

    @Sendable func refuse(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.caller(.read)
        guard EventSocket.since(request.uri.query.map { Substring($0) }) != nil else {
            throw ServiceError.malformed("since must be a whole number of 0 or more", field: "since")
        }
        throw ServiceError(.upgradeRequired, "This endpoint speaks WebSocket: send an upgrade request")
    }
}
