import Foundation
import InMemoryTracing
import Tracing

/// An in-memory tracer (swift-distributed-tracing's) whose ids are W3C's and which reads and
/// writes the `traceparent` header, as swift-otel's does: a test sees every span the service
/// finished, and the trace contexts it handed on.
struct W3CTestTracer: Tracer {
    let memory = InMemoryTracer(idGenerator: .init(nextTraceID: { W3CTestTracer.hex(16) }, nextSpanID: { W3CTestTracer.hex(8) }))

    var finished: [FinishedInMemorySpan] { memory.finishedSpans }

    /// `bytes` random bytes in lowercase hex.
    static func hex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 1...255)) }.joined()
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> InMemorySpan {
        memory.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier) else { return }
        let fields = header.split(separator: "-")
        guard fields.count == 4 else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: String(fields[1]), spanID: String(fields[2]), parentSpanID: nil)
    }
}
