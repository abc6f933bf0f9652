import Domain
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/agents/{id}/status` and `…/restore`: lifecycle moves, which make no version.
struct AgentLifecycleRoutes: Sendable {
    static let reasonLimit = 500

    let supervisor: TenantSupervisor
    let bodyLimit: Int
    let idempotency: Idempotency

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("agents/:id/status", use: setStatus)
        group.post("agents/:id/restore", use: restore)
    }

    @Sendable func setStatus(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try AgentRoutes.agentID(context)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["status", "reason"])
        guard let raw = try body.string("status") else { throw ServiceError.malformed("status is required", field: "status") }
        let status = AgentStatus(rawValue: raw)
        guard status.isKnown else {
            throw ServiceError.malformed("status must be one of \(AgentStatus.knownNames.joined(separator: ", "))", field: "status")
        }
        let reason = try body.string("reason")
        if let reason, reason.unicodeScalars.count > Self.reasonLimit || reason.unicodeScalars.contains("\u{0}") {
            throw ServiceError.malformed("reason must be at most \(Self.reasonLimit) characters, without U+0000", field: "reason")
        }
        let agent = try await supervisor.tenant(tenant).setStatus(
            id,
            to: status,
            reason: reason,
            ifMatch: request.ifMatchVersion,
            identity: identity,
            audit: context.audit(identity)
        )
        return .json(agent.body, headers: [.eTag: agent.etag])
    }

    @Sendable func restore(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.admin)
        let id = try AgentRoutes.agentID(context)
        var request = request
        return try await idempotency.once(&request, context: context, tenant: tenant) { _ in
            let agent = try await supervisor.tenant(tenant).restore(id, audit: context.audit(identity))
            return JSONReply(headers: [.eTag: agent.etag], body: agent.body)
        }
    }
}
