import CoreMetrics
import Domain
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
        let (counter, timer) = lookUp(method: method, route: route, status: status)
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
    }

    /// Makes the series each route will have, at zero, before any request: its duration, and its
    /// count for each server error the service answers with (so the 5xx ratio counts the first).
    func register(_ routes: [(method: HTTPRequest.Method, route: String)]) {
        let failures = Set(ErrorCode.allCases.map(\.httpStatus).filter { $0 >= 500 })
        for (method, route) in routes {
            for status in failures { _ = lookUp(method: method, route: route, status: status) }
        }
    }

    /// The counter and the timer of a label set, made on first use.
    private func lookUp(method: HTTPRequest.Method, route: String, status: Int) -> (Counter, Timer) {
        instruments.withLock { all in
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
    }
}
