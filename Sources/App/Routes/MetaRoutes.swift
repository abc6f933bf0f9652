import Hummingbird

/// The contract and its docs page, without auth, served from bytes made at start.
struct MetaRoutes: Sendable {
    let contract: APIContract

    func register(on router: Router<AppRequestContext>) {
        let contract = contract
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: contract.yaml))
        }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: contract.json))
        }
        router.get("docs") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: contract.docsPage))
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition, on the API port or on `AMS_METRICS_PORT`.
struct MetricsRoute: Sendable {
    let metrics: AppMetrics

    func register<Context: RequestContext>(on router: Router<Context>) {
        let metrics = metrics
        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
            )
        }
    }
}
