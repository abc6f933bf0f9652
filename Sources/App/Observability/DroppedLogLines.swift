import CoreMetrics
import Synchronization

/// `ams_log_lines_dropped_total`: the log sink is made before the metrics (and may outlive them),
/// so it keeps its own count, and the counter is brought up to it whenever `/metrics` is read.
final class DroppedLogLines: Sendable {
    private let sink: LogSink?
    private let counter: CoreMetrics.Counter
    private let reported = Mutex(0)

    init(sink: LogSink?, factory: any MetricsFactory) {
        self.sink = sink
        self.counter = CoreMetrics.Counter(label: "ams_log_lines_dropped_total", factory: factory)
    }

    /// Adds what the sink dropped since the last call.
    func update() {
        guard let sink else { return }
        let total = sink.dropped
        reported.withLock { reported in
            guard total > reported else { return }
            counter.increment(by: total - reported)
            reported = total
        }
    }
}
