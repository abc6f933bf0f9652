import Domain
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/agents/{id}/versions`, `…/diff`, `…/rollback` and `…/history`: an agent's immutable
/// versions and its audit trail.
struct AgentVersionRoutes: Sendable {
    let supervisor: TenantSupervisor
    let bodyLimit: Int
    let idempotency: Idempotency

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("agents/:id/versions", use: versions)
        group.get("agents/:id/versions/:version", use: version)
        group.get("agents/:id/diff", use: diff)
        group.post("agents/:id/rollback", use: rollback)
        group.get("agents/:id/history", use: history)
    }

    @Sendable func versions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let id = try AgentRoutes.agentID(context)
        let (limit, before) = try AgentRoutes.page(request.uri.queryParameters)
        let page = try await supervisor.tenant(tenant).versions(of: id, limit: limit, before: before)
        return .json(.object(["items": .array(page.items.map(\.listJSON)), "next_cursor": Self.cursor(page.next)]))
    }

    @Sendable func version(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let id = try AgentRoutes.agentID(context)
        let raw = context.parameters.get("version") ?? ""
        guard let number = Int(raw), number > 0 else { throw ServiceError(.versionNotFound, "Version not found") }
        let (agent, changes) = try await supervisor.tenant(tenant).version(number, of: id)
        var w = JSONWriter(capacity: 2048)
        agent.write(to: &w, extra: ["changes": changes])
        return .json(ByteBuffer(bytes: w.bytes))
    }

    @Sendable func diff(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let id = try AgentRoutes.agentID(context)
        let params = request.uri.queryParameters
        let from = try Self.versionNumber(params.get("from"), "from")
        let to = try Self.versionNumber(params.get("to"), "to")
        let changes = try await supervisor.tenant(tenant).diff(of: id, from: from, to: to)
        return .json(.object(["from": .int(from), "to": .int(to), "changes": .array(changes.map(\.json))]))
    }

    @Sendable func rollback(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try AgentRoutes.agentID(context)
        var request = request
        return try await idempotency.once(&request, context: context, tenant: tenant) { request in
            let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["version"])
            guard let number = try body.int("version"), number > 0 else {
                throw ServiceError.malformed("version must be a whole number from 1", field: "version")
            }
            let agent = try await supervisor.tenant(tenant).rollback(
                id,
                to: number,
                ifMatch: request.ifMatchVersion,
                audit: context.audit(identity),
                counted: true
            )
            return JSONReply(headers: [.eTag: agent.etag], body: agent.body)
        }
    }

    @Sendable func history(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let id = try AgentRoutes.agentID(context)
        let (limit, before) = try AgentRoutes.page(request.uri.queryParameters)
        let page = try await supervisor.tenant(tenant).history(of: id, limit: limit, before: before)
        return .json(.object(["items": .array(page.items.map(\.json)), "next_cursor": Self.cursor(page.next)]))
    }

    static func cursor(_ position: Int64?) -> JSONValue { position.map { .string(Cursor.encode($0)) } ?? .null }

    static func versionNumber(_ raw: String?, _ name: String) throws -> Int {
        guard let raw, let n = Int(raw), n > 0 else { throw ServiceError.malformed("\(name) must be a version number from 1", field: name) }
        return n
    }
}
