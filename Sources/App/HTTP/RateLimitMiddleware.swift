import Domain
import HTTPTypes
import Hummingbird

/// Applies the tenant's rate limits to `/v1` requests, after authentication has settled the
/// tenant; answers carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let limiter: RateLimiter?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let limiter, let tenant = context.identity?.tenantID else { return try await next(request, context) }
        guard let verdict = try await limiter.check(tenant: tenant, kinds: Self.kinds(request.method, context.endpointPath)) else {
            return try await next(request, context)
        }
        var response = try await next(request, context)
        response.headers[.rateLimitLimit] = String(verdict.limit)
        response.headers[.rateLimitRemaining] = String(verdict.remaining)
        response.headers[.rateLimitReset] = String(verdict.reset)
        return response
    }

    /// Creates and configuration changes count against their own limits too.
    static func kinds(_ method: HTTPRequest.Method, _ endpoint: String?) -> [RateLimiter.Kind] {
        switch (method, endpoint) {
        case (.post, "/v1/agents"), (.post, "/v1/agents/import"): [.request, .create]
        case (.patch, "/v1/agents/{id}"), (.post, "/v1/agents/{id}/rollback"): [.request, .update]
        default: [.request]
        }
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("X-RateLimit-Limit")!
    static let rateLimitRemaining = Self("X-RateLimit-Remaining")!
    static let rateLimitReset = Self("X-RateLimit-Reset")!
}
