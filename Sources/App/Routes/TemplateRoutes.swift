import Domain
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/templates`: the shipped templates and the tenant's own; and `POST /v1/agents/{id}/template`.
struct TemplateRoutes: Sendable {
    let supervisor: TenantSupervisor
    let bodyLimit: Int

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("templates", use: list)
        group.post("templates", use: create)
        group.get("templates/:template_id", use: get)
        group.patch("templates/:template_id", use: patch)
        group.delete("templates/:template_id", use: delete)
        group.post("agents/:id/template", use: fromAgent)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let params = request.uri.queryParameters
        let limit = try AgentRoutes.limit(params.get("limit"))
        var cursor: TemplateCursor?
        if let raw = params.get("cursor"), !raw.isEmpty {
            guard let decoded = TemplateCursor(raw) else { throw ServiceError.malformed("cursor is not one this service issued", field: "cursor") }
            cursor = decoded
        }
        let category = try AgentRoutes.storable(params.get("category"), "category").flatMap { $0.isEmpty ? nil : $0 }
        let type = try AgentRoutes.known(AgentType.self, params.get("type"), "type")
        let page = try await supervisor.tenant(tenant).templates(category: category, type: type, limit: limit, after: cursor)
        return .json(.object(["items": .array(page.items.map(\.json)), "next_cursor": page.next.map { .string($0.encoded) } ?? .null]))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        var request = request
        let template = try await supervisor.tenant(tenant).createTemplate(try await request.json(limit: bodyLimit), audit: context.audit(identity))
        return .json(ByteBuffer(bytes: template.json.encoded), status: .created, headers: [.location: "/v1/templates/\(template.id)"])
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        return .json(try await supervisor.tenant(tenant).template(Self.templateID(context)).json)
    }

    @Sendable func patch(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = Self.templateID(context)
        var request = request
        let patch = try await request.json(limit: bodyLimit, mergePatch: true)
        return .json(try await supervisor.tenant(tenant).patchTemplate(id, with: patch, audit: context.audit(identity)).json)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.admin)
        try await supervisor.tenant(tenant).deleteTemplate(Self.templateID(context))
        return Response(status: .noContent)
    }

    @Sendable func fromAgent(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try AgentRoutes.agentID(context)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["name", "category", "description"])
        let template = try await supervisor.tenant(tenant).templateFromAgent(
            id,
            name: try body.string("name") ?? "",
            category: try body.string("category") ?? "",
            description: try body.string("description"),
            audit: context.audit(identity)
        )
        return .json(ByteBuffer(bytes: template.json.encoded), status: .created, headers: [.location: "/v1/templates/\(template.id)"])
    }

    static func templateID(_ context: AppRequestContext) -> String {
        context.parameters.get("template_id") ?? ""
    }
}
