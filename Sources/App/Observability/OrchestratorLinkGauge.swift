import CoreMetrics

/// `ams_orchestrator_link{state}`: 1 for the state the orchestrator link is in, 0 for the others.
/// Every state is there from the start, `off` at 1: a replica without an orchestrator, or one that
/// does not lead the notifier, stays `off`.
struct OrchestratorLinkGauge: Sendable {
    private let gauges: [LinkStatus.State: CoreMetrics.Gauge]

    init(factory: any MetricsFactory) {
        var gauges: [LinkStatus.State: CoreMetrics.Gauge] = [:]
        for state in LinkStatus.State.allCases {
            gauges[state] = CoreMetrics.Gauge(label: "ams_orchestrator_link", dimensions: [("state", state.rawValue)], factory: factory)
        }
        self.gauges = gauges
        record(.off)
    }

    func record(_ current: LinkStatus.State) {
        for (state, gauge) in gauges { gauge.record(state == current ? 1 : 0) }
    }
}
