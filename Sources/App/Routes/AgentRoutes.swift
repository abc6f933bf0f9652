import Domain
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/agents`: CRUD, served through the tenant's actor.
struct AgentRoutes: Sendable {
    let supervisor: TenantSupervisor
    let bodyLimit: Int
    let idempotency: Idempotency

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("agents", use: create)
        group.get("agents", use: list)
        group.get("agents/:id", use: get)
        group.patch("agents/:id", use: patch)
        group.delete("agents/:id", use: delete)
        group.post("validations", use: validate)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        var request = request
        return try await idempotency.once(&request, context: context, tenant: tenant) { request in
            let registry = supervisor.tenant(tenant)
            let (body, reference) = try Self.templateReference(try await request.json(limit: bodyLimit))
            var config: AgentConfig
            var template: Template?
            if let reference {
                (config, template) = try await registry.configFromTemplate(reference.id, version: reference.version, body: body)
            } else {
                config = try AgentConfig(json: body)
            }
            if config.status == .active { try identity.require(.admin) }
            let created = try await registry.create(config, from: template, audit: context.audit(identity))
            return JSONReply(
                status: .created,
                headers: [
                    .location: "/v1/agents/\(created.id.uuidString.lowercased())", .eTag: created.etag,
                ],
                body: created.body
            )
        }
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        return try await get(request, id: try Self.agentID(context), tenant: tenant)
    }

    /// The read itself, once the caller may read and the id is known (also the `HotReads` entry).
    func get(_ request: Request, id: UUID, tenant: TenantID) async throws -> Response {
        let registry = supervisor.tenant(tenant)
        let cached: CachedAgent
        if let hit = registry.cached(id) { cached = hit } else { cached = try await registry.agent(id) }
        if let tags = request.headers[.ifNoneMatch], Self.matches(tags, cached.etag) {
            return Response(status: .notModified, headers: [.eTag: cached.etag])
        }
        return .json(cached.body, headers: [.eTag: cached.etag])
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let query = try Self.query(request.uri.queryParameters)
        let page = try await supervisor.tenant(tenant).agents(query)
        var w = JSONWriter(capacity: 1024 * (page.items.count + 1))
        w.beginObject()
        w.key("items")
        w.beginArray()
        for agent in page.items { agent.write(to: &w) }
        w.endArray()
        w.field("next_cursor", page.next.map(Cursor.encode))
        w.endObject()
        return .json(ByteBuffer(bytes: w.bytes))
    }

    @Sendable func patch(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try Self.agentID(context)
        var request = request
        let patch = try await request.json(limit: bodyLimit, mergePatch: true)
        let updated = try await supervisor.tenant(tenant).patch(
            id,
            with: patch,
            ifMatch: request.ifMatchVersion,
            audit: context.audit(identity),
            counted: true
        )
        return .json(updated.body, headers: [.eTag: updated.etag])
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.admin)
        try await supervisor.tenant(tenant).delete(try Self.agentID(context), ifMatch: request.ifMatchVersion, audit: context.audit(identity))
        return Response(status: .noContent)
    }

    @Sendable func validate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        var request = request
        let config = try AgentConfig(json: try await request.json(limit: bodyLimit))
        let report = try await supervisor.tenant(tenant).dryRun(config)
        return .json(.object(["valid": .bool(report.errors.isEmpty), "issues": .array(report.issues.map(\.json))]))
    }

    /// `template_id` and `template_version` taken out of a create body, which then holds the
    /// agent's own fields.
    static func templateReference(_ json: JSONValue) throws -> (body: JSONValue, reference: (id: String, version: Int?)?) {
        guard case .object(var fields) = json else { return (json, nil) }
        let id = fields.removeValue(forKey: "template_id") ?? .null
        let version = fields.removeValue(forKey: "template_version") ?? .null
        guard id != .null else {
            if version != .null { throw ServiceError.malformed("template_version needs template_id", field: "/template_version") }
            return (.object(fields), nil)
        }
        guard case .string(let templateID) = id, !templateID.isEmpty else {
            throw ServiceError.malformed("template_id must be a template's id", field: "/template_id")
        }
        switch version {
        case .null: return (.object(fields), (templateID, nil))
        case .int(let n) where n > 0: return (.object(fields), (templateID, n))
        default: throw ServiceError.malformed("template_version must be a whole number from 1", field: "/template_version")
        }
    }

    /// A malformed id is answered exactly like a missing agent.
    static func agentID(_ context: AppRequestContext) throws -> UUID {
        guard let raw = context.parameters.get("id"), let id = UUID(canonical: raw) else { throw ServiceError.agentNotFound() }
        return id
    }

    static func matches(_ ifNoneMatch: String, _ etag: String) -> Bool {
        ifNoneMatch.split(separator: ",").contains { tag in
            let t = tag.trimmingCharacters(in: .whitespaces)
            return t == "*" || t == etag || t == "W/" + etag
        }
    }

    static func query(_ params: Parameters) throws -> AgentQuery {
        var q = AgentQuery()
        (q.limit, q.after) = try page(params)
        q.status = try known(AgentStatus.self, params.get("status"), "status")
        q.type = try known(AgentType.self, params.get("type"), "type")
        q.tag = try storable(params.get("tag"), "tag")
        q.text = try storable(params.get("q"), "q").flatMap { $0.isEmpty ? nil : $0 }
        return q
    }

    /// `limit` (1–200, default 50) and `cursor`, as every list reads them.
    static func page(_ params: Parameters) throws -> (limit: Int, after: Int64?) {
        let limit = try limit(params.get("limit"))
        guard let raw = params.get("cursor"), !raw.isEmpty else { return (limit, nil) }
        guard let position = Cursor.decode(raw) else { throw ServiceError.malformed("cursor is not one this service issued", field: "cursor") }
        return (limit, position)
    }

    /// A page size: 1–200, 50 when absent.
    static func limit(_ raw: String?) throws -> Int {
        guard let raw else { return 50 }
        guard let n = Int(raw), (1...200).contains(n) else {
            throw ServiceError.malformed("limit must be a whole number from 1 to 200", field: "limit")
        }
        return n
    }

    /// Postgres stores no U+0000, so a filter carrying one could only fail there.
    static func storable(_ raw: String?, _ name: String) throws -> String? {
        guard let raw else { return nil }
        guard !raw.unicodeScalars.contains("\u{0}") else {
            throw ServiceError.malformed("\(name) must not contain U+0000", field: name)
        }
        return raw
    }

    /// An unknown filter value is a mistake to report, not a reason for an empty page.
    static func known<E: OpenEnum>(_: E.Type, _ raw: String?, _ name: String) throws -> E? {
        guard let raw else { return nil }
        let value = E(rawValue: raw)
        guard value.isKnown else {
            throw ServiceError.malformed("\(name) must be one of \(E.knownNames.joined(separator: ", "))", field: name)
        }
        return value
    }
}

/// Opaque list cursors: the keyset position, base64url-encoded with a format prefix.
enum Cursor {
    static func encode(_ position: Int64) -> String {
        Data("v1:\(position)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) -> Int64? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8), text.hasPrefix("v1:") else { return nil }
        return Int64(text.dropFirst(3)).flatMap { $0 > 0 ? $0 : nil }
    }
}
