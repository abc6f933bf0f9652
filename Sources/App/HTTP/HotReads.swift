import Domain
import Foundation
import Hummingbird

/// The two reads other services make most, `GET /v1/agents/{id}` and
/// `GET /internal/v1/tenants/{tenant_id}/agents/{id}/config`, answered without walking the router's
/// trie: resolving the config path took 8.6% of the CPU of its GET, most of it generic dictionary
/// work for the two path parameters. They go through the same middleware and handlers as the routes
/// the router has for them; any other request, or a path in another form, goes to the router.
struct HotReads: Sendable {
    let envelope: EnvelopeMiddleware
    let tenantAuth: AuthMiddleware
    let rateLimit: RateLimitMiddleware
    let internalAuth: AuthMiddleware
    let agents: AgentRoutes
    let internalAgents: InternalAgentRoutes

    enum Read: Equatable {
        case agent(UUID)
        case config(tenant: Substring, id: UUID)

        /// The route as the router names it, for metrics and the access log.
        var endpoint: String {
            switch self {
            case .agent: "/v1/agents/{id}"
            case .config: "/internal/v1/tenants/{tenant_id}/agents/{id}/config"
            }
        }

        /// Only the exact form: one `/` between segments, a canonical UUID as the id.
        init?(path: String) {
            if path.hasPrefix("/v1/agents/") {
                guard let id = UUID(canonical: path.dropFirst("/v1/agents/".count)) else { return nil }
                self = .agent(id)
            } else if path.hasPrefix("/internal/v1/tenants/"), path.hasSuffix("/config") {
                let middle = path.dropFirst("/internal/v1/tenants/".count).dropLast("/config".count)
                guard let slash = middle.firstIndex(of: "/"), slash != middle.startIndex else { return nil }
                let rest = middle[middle.index(after: slash)...]
                guard rest.hasPrefix("agents/"), let id = UUID(canonical: rest.dropFirst("agents/".count)) else { return nil }
                self = .config(tenant: middle[..<slash], id: id)
            } else {
                return nil
            }
        }
    }

    func respond(to read: Read, _ request: Request, context: AppRequestContext) async throws -> Response {
        var context = context
        context.coreContext.endpointPath.value = read.endpoint
        return try await envelope.handle(request, context: context) { request, context in
            switch read {
            case .agent(let id):
                try await tenantAuth.handle(request, context: context) { request, context in
                    try await rateLimit.handle(request, context: context) { request, context in
                        let (_, tenant) = try context.caller(.read)
                        return try await agents.get(request, id: id, tenant: tenant)
                    }
                }
            case .config(let tenant, let id):
                try await internalAuth.handle(request, context: context) { request, _ in
                    try await internalAgents.config(request, tenant: try InternalRoutes.tenantID(raw: String(tenant)), id: id)
                }
            }
        }
    }
}

/// The router with `HotReads` in front of it.
struct AppResponder<Fallback: HTTPResponder>: HTTPResponder where Fallback.Context == AppRequestContext {
    let router: Fallback
    let hot: HotReads

    func respond(to request: Request, context: AppRequestContext) async throws -> Response {
        guard request.method == .get, let read = HotReads.Read(path: request.uri.path) else {
            return try await router.respond(to: request, context: context)
        }
        do {
            return try await hot.respond(to: read, request, context: context)
        } catch let error as any HTTPResponseError {
            // As the router's responder does.
            return try error.response(from: request, context: context)
        }
    }
}

/// Builds `AppResponder` for `Application(router:)`.
struct AppResponderBuilder: HTTPResponderBuilder {
    let router: Router<AppRequestContext>
    let hot: HotReads

    func buildResponder() -> AppResponder<RouterResponder<AppRequestContext>> {
        AppResponder(router: router.buildResponder(), hot: hot)
    }
}
