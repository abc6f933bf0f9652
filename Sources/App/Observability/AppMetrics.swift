import CoreMetrics
import Infra
import Prometheus

/// Every instrument the service exposes at `/metrics`, made from one Prometheus registry that the
/// application owns (no global metrics system: each application, and each test, has its own).
/// Disabled (`AMS_METRICS=0`, for measuring their cost), every instrument is a no-op.
struct AppMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// `nil` when disabled: the per-request lookup is skipped altogether.
    let requests: RequestMetrics?
    let database: DatabaseMetrics
    let cacheHits: CoreMetrics.Counter
    let cacheMisses: CoreMetrics.Counter
    let tenantActors: CoreMetrics.Gauge
    let listenerConnected: CoreMetrics.Gauge
    let notices: CoreMetrics.Counter
    let validDrafts: CoreMetrics.Counter
    let invalidDrafts: CoreMetrics.Counter
    let validationDuration: CoreMetrics.Timer
    let tasksCompleted: CoreMetrics.Counter
    let tasksFailed: CoreMetrics.Counter
    let tasksDeadLettered: CoreMetrics.Counter
    /// Requests let through because Redis could not count them (rate limits fail open).
    let rateLimitUnchecked: CoreMetrics.Counter
    /// Log lines the log sink dropped (its buffer full), counted by the sink itself.
    let logLinesDropped: DroppedLogLines
    private let factory: any MetricsFactory

    /// `logs`: the sink whose dropped lines `/metrics` reports (none: the counter stays at 0).
    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), enabled: Bool = true, logs: LogSink? = nil) {
        var prometheus = PrometheusMetricsFactory(registry: registry)
        // Validators run in microseconds; the default buckets start at 5 ms.
        prometheus.durationHistogramBuckets["ams_validation_duration_seconds"] = [
            .microseconds(10), .microseconds(50), .microseconds(100), .microseconds(500),
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
        ]
        // A cached GET takes well under a millisecond; the default buckets start at 5 ms.
        prometheus.durationHistogramBuckets["http_request_duration_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        ]
        let factory: any MetricsFactory = enabled ? prometheus : NOOPMetricsHandler.instance
        self.registry = registry
        self.factory = factory
        self.requests = enabled ? RequestMetrics(factory: factory) : nil
        self.database = DatabaseMetrics(factory: factory)
        self.cacheHits = CoreMetrics.Counter(label: "ams_agent_cache_hits_total", factory: factory)
        self.cacheMisses = CoreMetrics.Counter(label: "ams_agent_cache_misses_total", factory: factory)
        self.tenantActors = CoreMetrics.Gauge(label: "ams_tenant_actors", factory: factory)
        self.listenerConnected = CoreMetrics.Gauge(label: "ams_listener_connected", factory: factory)
        self.notices = CoreMetrics.Counter(label: "ams_listener_notices_total", factory: factory)
        self.validDrafts = CoreMetrics.Counter(label: "ams_validation_runs_total", dimensions: [("outcome", "valid")], factory: factory)
        self.invalidDrafts = CoreMetrics.Counter(label: "ams_validation_runs_total", dimensions: [("outcome", "invalid")], factory: factory)
        self.validationDuration = CoreMetrics.Timer(label: "ams_validation_duration_seconds", factory: factory)
        self.tasksCompleted = CoreMetrics.Counter(label: "ams_tasks_total", dimensions: [("outcome", "completed")], factory: factory)
        self.tasksFailed = CoreMetrics.Counter(label: "ams_tasks_total", dimensions: [("outcome", "failed")], factory: factory)
        self.tasksDeadLettered = CoreMetrics.Counter(label: "ams_task_entries_dead_lettered_total", factory: factory)
        self.rateLimitUnchecked = CoreMetrics.Counter(label: "ams_rate_limit_unchecked_total", factory: factory)
        self.logLinesDropped = DroppedLogLines(sink: logs, factory: factory)
    }

    /// How many sequenced events a sink has yet to deliver.
    func eventLag(_ sink: String) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "ams_event_sink_lag", dimensions: [("sink", sink)], factory: factory)
    }

    /// The Prometheus text exposition of everything above.
    func exposition() -> [UInt8] {
        logLinesDropped.update()
        return registry.emitToBuffer()
    }
}
