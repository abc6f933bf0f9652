import Domain
import HTTPTypes
import Hummingbird

/// Applies the tenant's rate limits to `/v1` requests, after authentication has settled the
/// tenant; answers carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`,
/// refusals (4xx) too, since they were counted. A 429 keeps the headers of the limit it reached.
/// The create or update a request stands for is reserved first and refunded unless it was made:
/// a refused request (4xx or 5xx) and an idempotent replay use up no write.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let limiter: RateLimiter?
    let supervisor: TenantSupervisor

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let limiter, let tenant = context.identity?.tenantID else { return try await next(request, context) }
        let kinds = Self.kinds(request.method, context.endpointPath)
        let (verdict, reservation) = try await limiter.check(
            tenant: tenant,
            tier: try await supervisor.tenant(tenant).tier(),
            creates: kinds.contains(.create) ? 1 : 0
        )
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServiceError where error.status.code < 500 {
            // The envelope is made here so that it carries the headers; 5xx stay with the envelope
            // middleware, which logs them.
            response = error.response(requestID: context.requestID)
        } catch {
            await limiter.refund(reservation)
            throw error
        }
        if !(200..<300).contains(response.status.code) || response.headers[Idempotency.replayedField] != nil {
            await limiter.refund(reservation)
        }
        guard let verdict, response.headers[.rateLimitLimit] == nil else { return response }
        response.headers[.rateLimitLimit] = String(verdict.limit)
        response.headers[.rateLimitRemaining] = String(verdict.remaining)
        response.headers[.rateLimitReset] = String(verdict.reset)
        return response
    }

    /// Counts a request that the router does not see (an event socket's upgrade) against the
    /// tenant's requests per minute; over it: 429 AMS-208.
    func count(tenant: TenantID) async throws {
        guard let limiter else { return }
        _ = try await limiter.check(tenant: tenant, tier: try await supervisor.tenant(tenant).tier())
    }

    /// Creates count against their own limit too. Updates are counted by the tenant's actor, which
    /// knows whether one made a version (`TenantActor.patch`, `rollback`, `apply`).
    static func kinds(_ method: HTTPRequest.Method, _ endpoint: String?) -> [RateLimiter.Kind] {
        switch (method, endpoint) {
        case (.post, "/v1/agents"), (.post, "/v1/agents/import"): [.request, .create]
        default: [.request]
        }
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("X-RateLimit-Limit")!
    static let rateLimitRemaining = Self("X-RateLimit-Remaining")!
    static let rateLimitReset = Self("X-RateLimit-Reset")!
}
