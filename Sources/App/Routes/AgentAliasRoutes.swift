import Domain
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/agents/{id}/aliases`: named pointers to versions (environments), so a version can be
/// promoted and rolled back without touching the configuration. `production` takes `admin`.
struct AgentAliasRoutes: Sendable {
    static let protected: Set<String> = ["production"]

    let supervisor: TenantSupervisor
    let bodyLimit: Int

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("agents/:id/aliases", use: list)
        group.put("agents/:id/aliases/:name", use: set)
        group.delete("agents/:id/aliases/:name", use: remove)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let aliases = try await supervisor.tenant(tenant).aliases(of: try AgentRoutes.agentID(context))
        return .json(.object(["items": .array(aliases.map(\.json))]))
    }

    @Sendable func set(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try AgentRoutes.agentID(context)
        let name = try Self.name(context, identity)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["version"])
        guard let version = try body.int("version"), version > 0 else {
            throw ServiceError.malformed("version must be a whole number from 1", field: "version")
        }
        let alias = try await supervisor.tenant(tenant).setAlias(name, of: id, to: version, audit: context.audit(identity))
        return .json(alias.json)
    }

    @Sendable func remove(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try AgentRoutes.agentID(context)
        let name = try Self.name(context, identity)
        try await supervisor.tenant(tenant).removeAlias(name, of: id, audit: context.audit(identity))
        return Response(status: .noContent)
    }

    /// A name that cannot be an alias is answered like a missing one.
    static func name(_ context: AppRequestContext, _ identity: Identity) throws -> String {
        let name = context.parameters.get("name") ?? ""
        guard AgentAlias.isValidName(name) else {
            throw ServiceError.malformed("An alias name is 1–63 lowercase letters, digits, - or _, starting with a letter", field: "name")
        }
        if protected.contains(name) { try identity.require(.admin) }
        return name
    }
}
