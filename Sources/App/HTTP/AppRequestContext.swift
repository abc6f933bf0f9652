import Hummingbird
import Logging

/// Per-request state shared by the middleware and the routes.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Echoed from `X-Request-ID` or generated; on every response and log line.
    var requestID = ""
    /// Set by `AuthMiddleware`; routes behind it can rely on it.
    var identity: Identity?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
