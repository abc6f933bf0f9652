import CoreMetrics
import Synchronization

/// `ams_event_sink_lag{sink}`: how many sequenced events each sink has yet to deliver. A sink
/// records it when it delivers, so one that is stuck would keep its last value: `/metrics` brings
/// every sink's gauge up to date from the feed, where its lag keeps growing while it is stuck (and
/// is 0 for a shared sink on a replica that does not lead).
final class SinkLags: Sendable {
    private let factory: any MetricsFactory
    private let feed: EventFeed?
    private let gauges = Mutex<[String: CoreMetrics.Gauge]>([:])

    init(feed: EventFeed?, factory: any MetricsFactory) {
        self.feed = feed
        self.factory = factory
    }

    func gauge(_ sink: String) -> CoreMetrics.Gauge {
        gauges.withLock { gauges in
            if let gauge = gauges[sink] { return gauge }
            let gauge = CoreMetrics.Gauge(label: "ams_event_sink_lag", dimensions: [("sink", sink)], factory: factory)
            gauges[sink] = gauge
            return gauge
        }
    }

    /// Sets each sink's gauge to its lag in the feed now.
    func update() {
        guard let feed else { return }
        let lags = feed.lags
        gauges.withLock { gauges in
            for (sink, gauge) in gauges { gauge.record(lags[sink] ?? 0) }
        }
    }
}
