import Domain
import Foundation
import HTTPTypes
import Hummingbird

/// `/internal/v1` reads of agents for platform services: the execution configuration (from the
/// tenant actor's cache), availability for the Conversation Service, and batches.
struct InternalAgentRoutes: Sendable {
    static let batchLimit = 100

    let supervisor: TenantSupervisor
    let bodyLimit: Int

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("tenants/:tenant_id/agents/:id/config", use: config)
        group.get("tenants/:tenant_id/agents/:id/availability", use: availability)
        group.post("agents/batch", use: batch)
    }

    @Sendable func config(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await config(request, tenant: try InternalRoutes.tenantID(context), id: try AgentRoutes.agentID(context))
    }

    /// The read itself, once tenant and id are known (also the `HotReads` entry).
    func config(_ request: Request, tenant: TenantID, id: UUID) async throws -> Response {
        let registry = supervisor.tenant(tenant)
        if request.uri.query != nil, let alias = request.uri.queryParameters.get("alias") {
            guard AgentAlias.isValidName(alias) else { throw ServiceError.aliasNotFound(alias) }
            let (version, bytes) = try await registry.config(id, alias: alias)
            return Self.reply(bytes, etag: "\"\(version)\"", request)
        }
        let cached: CachedConfig
        if let hit = registry.cachedConfig(id) { cached = hit } else { cached = try await registry.config(id) }
        try TenantActor.requireActive(cached.status)
        return Self.reply(cached.bytes, etag: cached.etag, request)
    }

    @Sendable func availability(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try InternalRoutes.tenantID(context)
        let id = try AgentRoutes.agentID(context)
        let registry = supervisor.tenant(tenant)
        let cached: CachedConfig
        if let hit = registry.cachedConfig(id) { cached = hit } else { cached = try await registry.config(id) }
        var body: [String: JSONValue] = [
            "available": .bool(cached.status == .active && !cached.invalid), "status": .string(cached.status.rawValue),
            "version": .int(cached.version),
        ]
        if cached.status != .active {
            body["reason"] = .string("The agent is \(cached.status.rawValue)")
        } else if cached.invalid {
            body["reason"] = .string("The agent's configuration is invalid for its tenant's tier or tool catalog")
        }
        return .json(.object(body))
    }

    @Sendable func batch(_ request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["tenant_id", "ids"])
        guard let tenant = try body.string("tenant_id"), Tenant.isValidID(tenant) else {
            throw ServiceError.malformed("tenant_id must be 1–128 printable characters without spaces", field: "/tenant_id")
        }
        guard let raw = try body.strings("ids") else { throw ServiceError.malformed("ids is required", field: "/ids") }
        guard raw.count <= Self.batchLimit else {
            throw ServiceError.malformed("ids holds at most \(Self.batchLimit) ids", field: "/ids")
        }
        var seen = Set<String>()
        let requested = raw.filter { seen.insert($0).inserted }
        let ids = requested.compactMap { UUID(canonical: $0) }
        let found = try await supervisor.tenant(tenant).agents(ids)
        var w = JSONWriter(capacity: 1024 * (found.count + 1))
        w.beginObject()
        w.key("items")
        w.beginArray()
        var missing: [String] = []
        for text in requested {
            if let id = UUID(canonical: text), let agent = found[id] { w.raw(agent.bytes) } else { missing.append(text) }
        }
        w.endArray()
        w.field("missing", missing)
        w.endObject()
        return .json(ByteBuffer(bytes: w.bytes))
    }

    private static func reply(_ bytes: some Collection<UInt8>, etag: String, _ request: Request) -> Response {
        if let tags = request.headers[.ifNoneMatch], AgentRoutes.matches(tags, etag) {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        return .json(ByteBuffer(bytes: bytes), headers: [.eTag: etag])
    }
}
