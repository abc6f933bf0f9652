import Hummingbird
import Logging

/// Per-request state shared by the middleware and the routes.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Echoed from `X-Request-ID` or generated; on every response and log line.
    var requestID = ""
    /// Set by `AuthMiddleware`; routes behind it can rely on it.
    var identity: Identity? {
        didSet {
            notes?.subject = identity?.subject
            notes?.tenantID = identity?.tenantID
        }
    }
    /// The access log's view of what the routes learn (`nil` when the access log is off).
    var notes: RequestNotes?
    /// The request's span as W3C `traceparent`, when tracing records it: its writes' events keep
    /// it (`Audit.traceparent`), batched or not.
    var traceparent: String?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
