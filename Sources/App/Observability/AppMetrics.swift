import CoreMetrics
import Domain
import Infra
import Prometheus

/// Every instrument the service exposes at `/metrics`, made from one Prometheus registry that the
/// application owns (no global metrics system: each application, and each test, has its own).
/// Disabled (`AMS_METRICS=0`, for measuring their cost), every instrument is a no-op. Every series
/// the alert rules and the dashboard (`deploy/`) read is there from the start, at zero until it moves.
struct AppMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// `nil` when disabled: the per-request lookup is skipped altogether.
    let requests: RequestMetrics?
    let database: DatabaseMetrics
    let cacheHits: CoreMetrics.Counter
    let cacheMisses: CoreMetrics.Counter
    let tenantActors: CoreMetrics.Gauge
    let listenerConnected: CoreMetrics.Gauge
    /// Times the change listener lost LISTEN: a heartbeat that came back late ends the connection too.
    let listenerDisconnects: CoreMetrics.Counter
    let notices: CoreMetrics.Counter
    let validDrafts: CoreMetrics.Counter
    let invalidDrafts: CoreMetrics.Counter
    let validationDuration: CoreMetrics.Timer
    let tasksCompleted: CoreMetrics.Counter
    let tasksFailed: CoreMetrics.Counter
    let tasksDeadLettered: CoreMetrics.Counter
    /// Entries in every tenant's queues (pending ones included), by queue, as the consumer's last
    /// sweep found them: each replica that consumes reports the same totals.
    let taskQueueDepth: [TaskQueue: CoreMetrics.Gauge]
    /// Webhook endpoints the service disabled (410 Gone, too many failures), counted by the leader
    /// as it sequences their `webhook_disabled` events.
    let webhooksDisabled: CoreMetrics.Counter
    let orchestratorLink: OrchestratorLinkGauge
    let sinkLags: SinkLags
    /// Requests let through because Redis could not count them (rate limits fail open).
    let rateLimitUnchecked: CoreMetrics.Counter
    /// Log lines the log sink dropped (its buffer full), counted by the sink itself.
    let logLinesDropped: DroppedLogLines

    /// `logs`: the sink whose dropped lines `/metrics` reports (none: the counter stays at 0).
    /// `feed`: where `/metrics` reads the sinks' lags (none: as the sinks last recorded them).
    init(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        enabled: Bool = true,
        logs: LogSink? = nil,
        feed: EventFeed? = nil
    ) {
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
        self.requests = enabled ? RequestMetrics(factory: factory) : nil
        self.database = DatabaseMetrics(factory: factory)
        self.cacheHits = CoreMetrics.Counter(label: "ams_agent_cache_hits_total", factory: factory)
        self.cacheMisses = CoreMetrics.Counter(label: "ams_agent_cache_misses_total", factory: factory)
        self.tenantActors = CoreMetrics.Gauge(label: "ams_tenant_actors", factory: factory)
        self.listenerConnected = CoreMetrics.Gauge(label: "ams_listener_connected", factory: factory)
        self.listenerDisconnects = CoreMetrics.Counter(label: "ams_listener_disconnects_total", factory: factory)
        self.notices = CoreMetrics.Counter(label: "ams_listener_notices_total", factory: factory)
        self.validDrafts = CoreMetrics.Counter(label: "ams_validation_runs_total", dimensions: [("outcome", "valid")], factory: factory)
        self.invalidDrafts = CoreMetrics.Counter(label: "ams_validation_runs_total", dimensions: [("outcome", "invalid")], factory: factory)
        self.validationDuration = CoreMetrics.Timer(label: "ams_validation_duration_seconds", factory: factory)
        self.tasksCompleted = CoreMetrics.Counter(label: "ams_tasks_total", dimensions: [("outcome", "completed")], factory: factory)
        self.tasksFailed = CoreMetrics.Counter(label: "ams_tasks_total", dimensions: [("outcome", "failed")], factory: factory)
        self.tasksDeadLettered = CoreMetrics.Counter(label: "ams_task_entries_dead_lettered_total", factory: factory)
        var depth: [TaskQueue: CoreMetrics.Gauge] = [:]
        for queue in TaskQueue.allCases {
            depth[queue] = CoreMetrics.Gauge(label: "ams_task_queue_depth", dimensions: [("queue", queue.rawValue)], factory: factory)
        }
        self.taskQueueDepth = depth
        self.webhooksDisabled = CoreMetrics.Counter(label: "ams_webhook_endpoints_disabled_total", factory: factory)
        self.orchestratorLink = OrchestratorLinkGauge(factory: factory)
        self.sinkLags = SinkLags(feed: feed, factory: factory)
        self.rateLimitUnchecked = CoreMetrics.Counter(label: "ams_rate_limit_unchecked_total", factory: factory)
        self.logLinesDropped = DroppedLogLines(sink: logs, factory: factory)
    }

    /// How many sequenced events a sink has yet to deliver.
    func eventLag(_ sink: String) -> CoreMetrics.Gauge {
        sinkLags.gauge(sink)
    }

    /// What the leader just sequenced: the endpoints the service disabled are among it.
    func sequenced(_ events: [ChangeEvent]) {
        let disabled = events.count(where: { $0.event == Webhook.disabledEvent })
        if disabled > 0 { webhooksDisabled.increment(by: disabled) }
    }

    /// The task queues' depth a sweep found; a queue it did not see is empty.
    func recordTaskQueueDepth(_ depth: [TaskQueue: Int]) {
        for (queue, gauge) in taskQueueDepth { gauge.record(depth[queue] ?? 0) }
    }

    /// The Prometheus text exposition of everything above.
    func exposition() -> [UInt8] {
        logLinesDropped.update()
        sinkLags.update()
        return registry.emitToBuffer()
    }
}
