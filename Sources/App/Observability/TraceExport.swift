import Foundation
import Infra
import Logging
import OTel
import ServiceLifecycle

/// Tracing as the standard `OTEL_*` variables configure it (endpoint, protocol, service name,
/// batch delay, sampler), read by swift-otel: on only with `OTEL_TRACES_EXPORTER=otlp`, else no
/// tracer exists at all. Only traces: logs and metrics stay the service's own (its log lines and
/// `/metrics`), so swift-otel bootstraps nothing process-wide.
enum TraceExport {
    /// The service name the resource carries unless `OTEL_SERVICE_NAME` names another.
    static let serviceName = "agent-management"

    /// The tracer, and the service that exports its spans (the batch processor and the OTLP
    /// exporter), to run with the application's; `(.off, nil)` when tracing is off. `given`
    /// (a test's tracer) is used as it is, with nothing to export.
    static func make(
        given: Traces? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger
    ) throws -> (traces: Traces, exporter: (any Service)?) {
        if let given { return (given, nil) }
        // The SDK switched off as a whole (`OTEL_SDK_DISABLED=true`) wins, as the specification says.
        guard environment["OTEL_TRACES_EXPORTER"] == "otlp", environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else {
            return (.off, nil)
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (Traces(backend.factory), backend.service)
    }
}
