import Domain
import Hummingbird
import Infra

/// Liveness and readiness, without auth.
struct HealthRoutes: Sendable {
    let database: DatabaseProbe
    let supervisor: TenantSupervisor

    func register(on router: Router<AppRequestContext>) {
        router.get("health") { _, _ in Response.json(.object(["status": .string("ok")])) }
        router.get("health/ready", use: ready)
    }

    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Response {
        let up = await database.isUp()
        let listening = supervisor.isListening
        let body: JSONValue = .object([
            "status": .string(up ? "ready" : "unavailable"),
            "components": .object([
                "postgres": .object(["status": .string(up ? "up" : "down")]),
                "change_listener": .object(["status": .string(listening ? "listening" : "reconnecting")]),
            ]),
        ])
        return .json(body, status: up ? .ok : .serviceUnavailable)
    }
}
