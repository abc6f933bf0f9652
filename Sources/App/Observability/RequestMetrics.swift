import CoreMetrics
import HTTPTypes
import Synchronization

/// `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}`.
/// Labels are route templates, never raw paths, so their number is bounded by the router. The
/// instruments are made once per label set and kept: making one goes through the registry's lock
/// and allocates, which a cached GET should not pay on every request.
final class RequestMetrics: Sendable {
    private struct Series: Hashable {
        let method: HTTPRequest.Method
        let route: String
        let status: Int
    }

    private struct Instruments {
        var counts: [Series: Counter] = [:]
        var durations: [Series: Timer] = [:]
    }

    private let factory: any MetricsFactory
    private let instruments = Mutex(Instruments())

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Methods a client may invent are one label value, so the label stays bounded.
    static let knownMethods: Set<HTTPRequest.Method> = [
        .get, .head, .post, .put, .patch, .delete, .options, .trace, .connect, .init("QUERY")!,
    ]

    func record(method: HTTPRequest.Method, route: String, status: Int, nanoseconds: Int64) {
        let method = Self.knownMethods.contains(method) ? method : HTTPRequest.Method("OTHER")!
        let (counter, timer) = instruments.withLock { all in
            let series = Series(method: method, route: route, status: status)
            let timing = Series(method: method, route: route, status: 0)
            let counter =
                all.counts[series]
                ?? {
                    let made = Counter(
                        label: "http_requests_total",
                        dimensions: [
                            ("method", method.rawValue), ("route", route), ("status", String(status)),
                        ],
                        factory: factory
                    )
                    all.counts[series] = made
                    return made
                }()
            let timer =
                all.durations[timing]
                ?? {
                    let made = Timer(
                        label: "http_request_duration_seconds",
                        dimensions: [
                            ("method", method.rawValue), ("route", route),
                        ],
                        factory: factory
                    )
                    all.durations[timing] = made
                    return made
                }()
            return (counter, timer)
        }
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
    }
}
