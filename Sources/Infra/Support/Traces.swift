public import Tracing

/// Where the service's spans go: passed in like the metrics factory, never the process-wide
/// `InstrumentationSystem`, so each application (and each test) has its own. Off (no tracer, the
/// default) nothing is started, extracted or injected, and a traced place costs one branch.
public struct Traces: Sendable {
    public let tracer: (any Tracer)?

    public init(_ tracer: (any Tracer)?) {
        self.tracer = tracer
    }

    public static let off = Traces(nil)

    /// The W3C header (and frame field) that carries a trace to another process.
    public static let header = "traceparent"

    /// Runs `body` in a span of `kind` as the current span: a child of `parent`, else of the current
    /// span; a thrown error marks it failed. Off, `body` runs as it is and is given `nil`.
    public func withSpan<R>(
        _ name: @autoclosure () -> String,
        kind: SpanKind = .internal,
        parent: ServiceContext? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (_ span: (any Span)?) async throws -> R
    ) async rethrows -> R {
        guard let tracer else { return try await body(nil) }
        let span = Self.start(tracer, name(), context: parent ?? .current ?? .topLevel, kind: kind)
        defer { span.end() }
        do {
            return try await ServiceContext.$current.withValue(span.context) { try await body(span) }
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }

    /// As `withSpan`, but only within traced work: a call that no span made (a background loop's)
    /// starts no trace of its own.
    public func withChildSpan<R>(
        _ name: @autoclosure () -> String,
        kind: SpanKind = .internal,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (_ span: (any Span)?) async throws -> R
    ) async rethrows -> R {
        guard tracer != nil, let parent = ServiceContext.current else { return try await body(nil) }
        return try await withSpan(name(), kind: kind, parent: parent, body)
    }

    /// The context that continues a W3C `traceparent` (`nil`: off, or nothing to continue); a
    /// malformed one is ignored, as the specification asks.
    public func context(traceparent: String?) -> ServiceContext? {
        guard let tracer, let traceparent else { return nil }
        var context = ServiceContext.topLevel
        tracer.extract([Self.header: traceparent], into: &context, using: TraceCarrier())
        return context
    }

    /// The W3C `traceparent` of `context` (the current span's by default), which the next process
    /// continues; `nil` when off or outside any span.
    public func traceparent(_ context: ServiceContext? = .current) -> String? {
        guard let tracer, let context else { return nil }
        var carrier: [String: String] = [:]
        tracer.inject(context, into: &carrier, using: TraceCarrier())
        return carrier[Self.header]
    }

    /// Opens the existential, so the tracer's own `startSpan` runs.
    private static func start(_ tracer: some Tracer, _ name: String, context: ServiceContext, kind: SpanKind) -> any Span {
        tracer.startSpan(name, context: context, ofKind: kind)
    }
}

/// Headers as a dictionary, both ways.
struct TraceCarrier: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
