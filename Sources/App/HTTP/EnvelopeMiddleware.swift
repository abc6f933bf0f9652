import Dispatch
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Infra
import Logging
import Tracing

/// Outermost middleware: gives every request an id, puts it on every response, turns every error
/// into the AMS envelope (the cause of a 5xx is logged, never shown), counts the request for
/// `/metrics` and writes its access-log line. With tracing on, the request is a SERVER span that
/// continues the caller's `traceparent`. The logger's metadata is left alone on the hot path:
/// copying it on every request cost ~7% of a cached GET, so ids are attached only where a line is
/// written (a W3C trace id only when there is a trace: the caller's, or the span's).
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let ids = RequestIDGenerator()
    let metrics: RequestMetrics?
    let accessLog: Bool
    let traces: Traces

    init(metrics: RequestMetrics? = nil, accessLog: Bool = false, traces: Traces = .off) {
        self.metrics = metrics
        self.accessLog = accessLog
        self.traces = traces
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard traces.tracer != nil else {
            return try await respond(request, context: context, traceparent: request.headers[.traceparent], next: next)
        }
        let method = request.method.rawValue
        let route = context.endpointPath
        return try await traces.withSpan(
            route.map { method + " " + $0 } ?? method,
            kind: .server,
            parent: traces.context(traceparent: request.headers[.traceparent])
        ) { span in
            // The span's own context: the one a trace that started here, or was sampled out, has.
            let traceparent = traces.traceparent() ?? request.headers[.traceparent]
            var context = context
            if span?.isRecording == true { context.traceparent = traceparent }
            let response = try await respond(request, context: context, traceparent: traceparent, next: next)
            let status = Int(response.status.code)
            span?.updateAttributes { attributes in
                attributes["http.request.method"] = method
                attributes["http.route"] = route
                attributes["http.response.status_code"] = status
            }
            if status >= 500 { span?.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }

    /// The request as the envelope answers it; `traceparent` gives the trace id of its log lines.
    private func respond(
        _ request: Request,
        context: Context,
        traceparent: String?,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        var context = context
        context.requestID = requestID(request.headers)
        if let traceparent, let traceID = TraceParent.traceID(traceparent) {
            context.logger[metadataKey: "trace_id"] = .string(String(traceID))
        }
        let notes = accessLog ? RequestNotes() : nil
        context.notes = notes
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServiceError {
            response = error.response(requestID: context.requestID)
            if error.code.httpStatus >= 500 { logFailure(error.cause ?? error.message, code: error.code, context: context) }
        } catch let error as HTTPError {
            let mapped = ServiceError.from(error)
            response = mapped.response(requestID: context.requestID)
            if error.status.code == 405, let allow = error.headers[.allow] { response.headers[.allow] = allow }
            if mapped.code.httpStatus >= 500 { logFailure(String(reflecting: error), code: mapped.code, context: context) }
        } catch {
            let mapped = ServiceError(.internalError, "Internal error")
            response = mapped.response(requestID: context.requestID)
            logFailure(String(reflecting: error), code: mapped.code, context: context)
        }
        response.headers[.requestID] = context.requestID
        record(
            request.method,
            route: context.endpointPath ?? "NotFound",
            status: response.status.code,
            started: started,
            bytes: response.body.contentLength ?? 0,
            requestID: context.requestID,
            notes: notes,
            logger: context.logger
        )
        return response
    }

    /// The caller's `X-Request-ID` when it is usable, else a new one.
    func requestID(_ headers: HTTPFields) -> String {
        // `task:` ids are the task consumer's: they attribute a change's event to a task.
        let incoming = headers[.requestID].flatMap { $0.isEmpty || $0.utf8.count > 128 || $0.hasPrefix("task:") ? nil : $0 }
        return incoming ?? ids.next()
    }

    /// Counts a request that ended for `/metrics` and writes its access-log line (when `notes` is
    /// given: the access log is on); the event socket's upgrades come here too.
    func record(
        _ method: HTTPRequest.Method,
        route: String,
        status: Int,
        started: UInt64,
        bytes: Int,
        requestID: String,
        notes: RequestNotes?,
        logger: Logger
    ) {
        let elapsed = DispatchTime.now().uptimeNanoseconds - started
        metrics?.record(method: method, route: route, status: status, nanoseconds: Int64(elapsed))
        guard let notes else { return }
        logger.info(
            "request",
            metadata: [
                "method": .string(method.rawValue),
                "route": .string(route),
                "status": .stringConvertible(status),
                "duration_ms": .string(Self.milliseconds(elapsed)),
                "bytes": .stringConvertible(bytes),
                "request_id": .string(requestID),
                "tenant_id": .string(notes.tenantID ?? "-"),
                "sub": .string(notes.subject ?? "-"),
            ]
        )
    }

    /// `1.234` for 1,234,567 ns: `String(format:)` cost more than the rest of the line.
    static func milliseconds(_ nanoseconds: UInt64) -> String {
        let micros = nanoseconds / 1000
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    private func logFailure(_ cause: String, code: ErrorCode, context: Context) {
        context.logger.error(
            "request failed",
            metadata: [
                "request_id": .string(context.requestID),
                "code": .string(code.rawValue),
                "error": .string(cause),
            ]
        )
    }
}
