import Domain
import Hummingbird

/// `GET /v1/tenant`: the caller's tier, its limits and what it uses.
struct TenantRoutes: Sendable {
    let supervisor: TenantSupervisor

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("tenant", use: show)
    }

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        return .json(try await Self.describe(supervisor.tenant(tenant)))
    }

    static func describe(_ actor: TenantActor) async throws -> JSONValue {
        let info = try await actor.info()
        return .object([
            "tenant_id": .string(info.tenant.id), "tier": .string(info.tenant.tier.rawValue),
            "limits": info.limits.json, "usage": .object(["agents": .int(info.agents)]),
        ])
    }
}
