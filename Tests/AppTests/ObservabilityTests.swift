import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Testing

@testable import App

/// `/metrics`, the access log, trace ids and 405s, through the real application.
@Suite struct ObservabilityTests {
    /// The value of one exposition line, `series` written as the registry writes it.
    static func value(_ exposition: String, _ series: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }

    @Test func metricsCountRequestsByRouteTemplateAndTheServiceAtWork() async throws {
        let app = try await TestSupport.app()
        try await app.test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("metrics-agent")
            for _ in 0..<3 { #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").status == .ok) }
            #expect(try await admin.send(.post, "/v1/agents", json: #"{"name":"","llm_config":{"model":"gpt-4o-mini"}}"#).status == .badRequest)
            #expect(try await client.execute(uri: "/nowhere/\(UUID())", method: .get).status == .notFound)

            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: response.body)
            #expect(Self.value(text, #"http_requests_total{method="GET",route="/v1/agents/{id}",status="200"}"#) == 3)
            #expect(Self.value(text, #"http_requests_total{method="POST",route="/v1/agents",status="201"}"#) == 1)
            #expect(Self.value(text, #"http_requests_total{method="POST",route="/v1/agents",status="400"}"#) == 1)
            #expect(Self.value(text, #"http_requests_total{method="GET",route="NotFound",status="404"}"#) == 1)
            #expect(Self.value(text, #"http_request_duration_seconds_count{method="GET",route="/v1/agents/{id}"}"#) == 3)
            // Labels are templates: neither raw paths nor tenant ids appear.
            #expect(!text.contains(agent.id) && !text.contains("nowhere") && !text.contains("t-"))
            #expect(Self.value(text, #"ams_validation_runs_total{outcome="valid"}"#) == 1)
            #expect(Self.value(text, #"ams_validation_runs_total{outcome="invalid"}"#) == 1)
            #expect(Self.value(text, "ams_validation_duration_seconds_count") == 2)
            let hits = Self.value(text, "ams_agent_cache_hits_total") ?? 0
            let misses = Self.value(text, "ams_agent_cache_misses_total") ?? 0
            #expect(hits + misses == 3 && hits >= 2)
            #expect(Self.value(text, "ams_tenant_actors") == 1)
            #expect((Self.value(text, #"ams_database_calls_total{outcome="ok"}"#) ?? 0) >= 2)
            #expect(Self.value(text, "ams_database_connections_in_use") == 0)
            #expect(Self.value(text, "ams_database_breaker_openings_total") == 0)
            #expect(text.contains("ams_listener_connected "))
            #expect(text.contains("ams_listener_notices_total "))
        }
    }

    @Test func oneAccessLogLinePerRequestWithTheTraceID() async throws {
        let logs = LogCapture()
        let config = try TestSupport.configuration()
        let app = try await buildApplication(config, logger: logs.logger())
        let tenant = TestSupport.tenant()
        try await app.test(.router) { client in
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor], subject: "alice")
            let agent = try await editor.create("logged")
            let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let read = try await editor.send(
                .get,
                "/v1/agents/\(agent.id)",
                headers: [
                    .requestID: "req-logged", .traceparent: "00-\(trace)-00f067aa0ba902b7-01",
                ]
            )
            #expect(read.status == .ok)
            let line = try #require(logs.lines.first { $0.message == "request" && $0.metadata["request_id"] == "req-logged" })
            #expect(line.level == .info)
            #expect(line.metadata["method"] == "GET")
            #expect(line.metadata["route"] == "/v1/agents/{id}")
            #expect(line.metadata["status"] == "200")
            #expect(line.metadata["bytes"] == String(read.body.readableBytes))
            #expect(line.metadata["tenant_id"] == tenant)
            #expect(line.metadata["sub"] == "alice")
            #expect(line.metadata["trace_id"] == trace)
            #expect(Double(line.metadata["duration_ms"] ?? "") != nil)
            #expect(logs.lines.filter { $0.message == "request" && $0.metadata["request_id"] == "req-logged" }.count == 1)

            // No token: still one line, without a tenant or subject; a malformed traceparent is ignored.
            _ = try await client.execute(uri: "/v1/agents", method: .get, headers: [.requestID: "req-anon", .traceparent: "00-zz-01"])
            let anonymous = try #require(logs.lines.first { $0.message == "request" && $0.metadata["request_id"] == "req-anon" })
            #expect(anonymous.metadata["status"] == "401" && anonymous.metadata["tenant_id"] == "-" && anonymous.metadata["sub"] == "-")
            #expect(anonymous.metadata["trace_id"] == nil)
        }
    }

    @Test func theAccessLogCanBeTurnedOff() async throws {
        let logs = LogCapture()
        var config = try TestSupport.configuration()
        config.accessLog = false
        let app = try await buildApplication(config, logger: logs.logger())
        try await app.test(.router) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
        }
        #expect(!logs.lines.contains { $0.message == "request" })
    }

    @Test func aWrongMethodOnAKnownPathAnswers405WithAllow() async throws {
        let app = try await TestSupport.app()
        try await app.test(.router) { client in
            let put = try await client.execute(uri: "/v1/agents", method: .put)
            #expect(put.status == .methodNotAllowed && put.errorCode == "AMS-310")
            #expect(put.headers[.allow] == "GET, HEAD, POST")
            #expect(put.headers[.requestID]?.isEmpty == false)
            let post = try await client.execute(uri: "/v1/agents/\(UUID())", method: .post)
            #expect(post.status == .methodNotAllowed && post.headers[.allow] == "GET, HEAD, PATCH, DELETE")
            let delete = try await client.execute(uri: "/health", method: .delete)
            #expect(delete.status == .methodNotAllowed && delete.headers[.allow] == "GET, HEAD")
            let query = try await client.execute(uri: "/health", method: .init("QUERY")!)
            #expect(query.status == .methodNotAllowed)
            // HEAD answers wherever GET does, without a body.
            let head = try await client.execute(uri: "/health", method: .head)
            #expect(head.status == .ok && head.body.readableBytes == 0)
            let headOnPost = try await client.execute(uri: "/v1/validations", method: .head)
            #expect(headOnPost.status == .methodNotAllowed && headOnPost.headers[.allow] == "POST")
            // An unknown path stays a 404.
            #expect(try await client.execute(uri: "/v1/nothing", method: .put).errorCode == "AMS-300")
        }
    }

    /// A 5xx shows the client the envelope only; what went wrong is logged with the request id.
    @Test func internalErrorsAreLoggedNotShown() async throws {
        struct Boom: Error {}
        let logs = LogCapture()
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: EnvelopeMiddleware(metrics: AppMetrics().requests, accessLog: true))
        router.get("service-error") { _, _ -> Response in throw ServiceError(.internalError, "row 7 of table agents is unreadable") }
        router.get("plain-error") { _, _ -> Response in throw Boom() }
        try await Application(router: router, logger: logs.logger()).test(.router) { client in
            for (path, id) in [("/service-error", "req-se"), ("/plain-error", "req-pe")] {
                let response = try await client.execute(uri: path, method: .get, headers: [.requestID: id])
                #expect(response.status == .internalServerError && response.errorCode == "AMS-501")
                #expect(try response.json()["error"]?["message"] == .string("Internal error"))
                let line = try #require(logs.lines.first { $0.level == .error && $0.metadata["request_id"] == id })
                #expect(line.metadata["error"]?.contains(path == "/service-error" ? "row 7" : "Boom") == true)
            }
        }
    }

    @Test func withMetricsOffNothingIsCounted() async throws {
        var config = try TestSupport.configuration()
        config.metrics = false
        let app = try await buildApplication(config, logger: makeLogger(config))
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(!String(buffer: metrics.body).contains("http_requests_total"))
        }
    }

    @Test func durationsAreWrittenInMilliseconds() {
        #expect(EnvelopeMiddleware.milliseconds(1_234_567) == "1.234")
        #expect(EnvelopeMiddleware.milliseconds(5_000) == "0.005")
        #expect(EnvelopeMiddleware.milliseconds(2_000_000_000) == "2000.000")
    }

    @Test func textLogValuesCannotForgeFields() {
        #expect(LineLogHandler.quoted("req-1") == "req-1")
        #expect(LineLogHandler.quoted("x status=200") == #""x status=200""#)
        #expect(LineLogHandler.quoted("a\nb") == #""a\nb""#)
        #expect(LineLogHandler.quoted("") == #""""#)
        #expect(LineLogHandler.quoted("ünï-côdé") == "ünï-côdé")
        #expect(LineLogHandler.quoted("a\u{85}b") != "a\u{85}b", "a C1 control is quoted")
    }

    @Test func traceParentsAreParsedByTheW3CRules() {
        #expect(TraceParent.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceParent.traceID("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") == nil)
        #expect(TraceParent.traceID("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent.traceID("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") == nil)
        #expect(TraceParent.traceID("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceParent.traceID("garbage") == nil)
    }

    @Test func configurationReadsTheMetricsPortAndTheAccessLogSwitch() throws {
        let config = try AppConfiguration.fromEnvironment(["AMS_METRICS_PORT": "9100", "AMS_ACCESS_LOG": "0"])
        #expect(config.metricsPort == 9100 && config.accessLog == false)
        #expect(try AppConfiguration.fromEnvironment([:]).accessLog == true)
        #expect(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(["AMS_ACCESS_LOG": "maybe"]) }
        var clash = try AppConfiguration.fromEnvironment(["AMS_METRICS_PORT": "8080", "AMS_JWT_SECRET": TestSupport.secret])
        clash.port = 8080
        #expect(throws: ConfigurationError.self) { try clash.check() }
    }
}
