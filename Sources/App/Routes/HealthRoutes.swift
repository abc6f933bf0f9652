import Domain
import Hummingbird
import Infra

/// Liveness and readiness, without auth. Readiness follows Postgres alone: with Redis down, CRUD
/// keeps working (only what enqueues background work fails), so the replica stays in rotation.
struct HealthRoutes: Sendable {
    let database: DatabaseProbe
    let redis: RedisClient?
    let supervisor: TenantSupervisor
    let notifier: Notifier?
    let orchestrator: LinkStatus?

    func register(on router: Router<AppRequestContext>) {
        router.get("health") { _, _ in Response.json(.object(["status": .string("ok")])) }
        router.get("health/ready", use: ready)
    }

    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Response {
        async let redisUp = redis?.isReachable()
        let up = await database.isUp()
        let listening = supervisor.isListening
        var components: [String: JSONValue] = [
            "postgres": .object(["status": .string(up ? "up" : "down")]),
            "change_listener": .object(["status": .string(listening ? "listening" : "reconnecting")]),
        ]
        if let notifier {
            let sinks = notifier.feed.lags.mapValues { JSONValue.object(["lag": .int(Int($0))]) }
            components["notifier"] = .object([
                "leader": .bool(notifier.isLeading), "sequence": .int(Int(notifier.feed.newest)), "sinks": .object(sinks),
            ])
        }
        // Shown, but it does not make the replica unready: events wait in the outbox meanwhile.
        components["orchestrator"] = .object(["status": .string(orchestrator?.current.rawValue ?? "off")])
        if let redisUp = await redisUp { components["redis"] = .object(["status": .string(redisUp ? "up" : "down")]) }
        let body: JSONValue = .object(["status": .string(up ? "ready" : "unavailable"), "components": .object(components)])
        return .json(body, status: up ? .ok : .serviceUnavailable)
    }
}
