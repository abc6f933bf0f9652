import Domain
import Hummingbird

/// `/internal/v1/*`: platform services manage tenants' tiers and the tool catalog.
struct InternalRoutes: Sendable {
    let tenants: any TenantStore
    let toolCatalog: any ToolCatalogStore
    let supervisor: TenantSupervisor
    let catalog: ToolCatalogCache
    let bodyLimit: Int
    let enqueuer: TaskEnqueuer
    /// Queues the revalidations that tier and catalog changes record (`nil` in tests without one).
    let revalidations: RevalidationRelay?

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("tasks", use: enqueue)
        group.put("tenants/:tenant_id", use: setTier)
        group.put("tools", use: replaceTools)
        group.get("tools", use: tools)
    }

    @Sendable func setTier(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try Self.tenantID(context)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["tier"])
        // Read as the catalog's `min_tier` is: an unknown tier is a malformed body (AMS-109).
        guard let raw = try body.string("tier") else { throw ServiceError.malformed("tier is required", field: "/tier") }
        guard let tier = Tier(rawValue: raw) else {
            throw ServiceError.malformed("Unknown tier '\(raw)'; one of \(Tier.allCases.map(\.rawValue).joined(separator: ", "))", field: "/tier")
        }
        // A change of tier records the tenant's revalidation with it; the relay queues it.
        _ = try await tenants.setTier(tier, for: tenant)
        revalidations?.wake()
        let actor = supervisor.tenant(tenant)
        await actor.apply(ChangeNotification(kind: .tenant, tenantID: tenant))
        return .json(try await TenantRoutes.describe(actor))
    }

    /// A task message as the orchestrator would produce it, put on the queue its type belongs to.
    @Sendable func enqueue(_ request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        let task = try TaskMessage(json: try await request.json(limit: bodyLimit))
        try await enqueuer.enqueue(task)
        return TaskRoutes.accepted(task)
    }

    /// The path carries the id percent-encoded; headers and tokens carry it as it is.
    static func tenantID(_ context: AppRequestContext) throws -> TenantID {
        try tenantID(raw: context.parameters.get("tenant_id") ?? "")
    }

    static func tenantID(raw: String) throws -> TenantID {
        // Decoding allocates; most ids have nothing to decode.
        guard let tenant = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding : raw, Tenant.isValidID(tenant) else {
            throw ServiceError.malformed("tenant_id must be 1–128 printable characters without spaces", field: "tenant_id")
        }
        return tenant
    }

    @Sendable func replaceTools(_ request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        guard case .array(let items) = try await request.json(limit: bodyLimit) else {
            throw ServiceError.malformed("Body must be a JSON array of tools")
        }
        var tools: [ToolDefinition] = []
        var seen = Set<String>()
        for (i, item) in items.enumerated() {
            let tool = try ToolDefinition(json: item, at: "/\(i)")
            guard seen.insert(tool.id).inserted else { throw ServiceError.malformed("Tool '\(tool.id)' is listed twice", field: "/\(i)/id") }
            tools.append(tool)
        }
        // Tools removed or changed can make agents that use them invalid: the replacement records the
        // revalidations of the tenants that use them; the relay queues them.
        try await toolCatalog.replaceToolCatalog(tools)
        revalidations?.wake()
        await catalog.invalidate()
        return .json(.array(tools.map(\.json)))
    }

    @Sendable func tools(_ request: Request, context: AppRequestContext) async throws -> Response {
        .json(.array(try await catalog.current().tools.map(\.json)))
    }
}
