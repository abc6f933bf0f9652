import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryTracing
import Infra
import Logging
import Testing
import Tracing

@testable import App

/// OpenTelemetry traces as the service makes them, seen through an in-memory tracer that speaks
/// W3C `traceparent` (the export itself, over OTLP, is Tests/Ecosystem/test_traces.py's).
struct TracingTests {
    @Test func tracingIsOffUnlessTheExporterIsOTLP() throws {
        let logger = Logger(label: "test")
        let unset = try TraceExport.make(environment: [:], logger: logger)
        #expect(unset.traces.tracer == nil && unset.exporter == nil)
        let none = try TraceExport.make(environment: ["OTEL_TRACES_EXPORTER": "none"], logger: logger)
        #expect(none.traces.tracer == nil && none.exporter == nil)
        let disabled = try TraceExport.make(environment: ["OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"], logger: logger)
        #expect(disabled.traces.tracer == nil && disabled.exporter == nil)
        let otlp = try TraceExport.make(environment: ["OTEL_TRACES_EXPORTER": "otlp"], logger: logger)
        #expect(otlp.traces.tracer != nil && otlp.exporter != nil)
        #expect(try TraceExport.make(given: .off, environment: ["OTEL_TRACES_EXPORTER": "otlp"], logger: logger).exporter == nil)
    }

    /// The log lines' trace id is the request's trace: the caller's, or the one its span started.
    @Test func eachRequestIsAServerSpanWhoseTraceTheLogLineNames() async throws {
        let tracer = W3CTestTracer()
        let logs = LogCapture()
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: EnvelopeMiddleware(metrics: AppMetrics().requests, accessLog: true, traces: Traces(tracer)))
        router.get("things/:id") { _, _ -> String in "ok" }
        router.get("broken") { _, _ -> Response in throw ServiceError(.internalError, "broken") }
        try await Application(router: router, logger: logs.logger()).test(.router) { client in
            let trace = W3CTestTracer.hex(16)
            let caller = W3CTestTracer.hex(8)
            let continued = try await client.execute(
                uri: "/things/7",
                method: .get,
                headers: [.requestID: "req-continued", .traceparent: "00-\(trace)-\(caller)-01"]
            )
            #expect(continued.status == .ok)
            let server = try #require(tracer.finished.first { $0.traceID == trace })
            #expect(server.kind == .server && server.parentSpanID == caller)
            #expect(server.operationName == "GET /things/{id}")
            #expect(server.attributes.get("http.route") == .string("/things/{id}"))
            #expect(server.attributes.get("http.request.method") == .string("GET"))
            #expect(server.attributes.get("http.response.status_code") == .int64(200))
            #expect(server.status == nil)
            #expect(logs.lines.first { $0.metadata["request_id"] == "req-continued" }?.metadata["trace_id"] == trace)

            let started = try await client.execute(uri: "/broken", method: .get, headers: [.requestID: "req-started"])
            #expect(started.status == .internalServerError)
            let root = try #require(tracer.finished.first { $0.attributes.get("http.route") == .string("/broken") })
            #expect(root.parentSpanID == nil && root.status?.code == .error)
            #expect(root.attributes.get("http.response.status_code") == .int64(500))
            #expect(logs.lines.first { $0.metadata["request_id"] == "req-started" && $0.message == "request" }?.metadata["trace_id"] == root.traceID)
        }
    }

    /// The database calls of a traced request are its child spans; the event it wrote keeps the
    /// trace, and its webhook delivery is a CLIENT span in it whose `traceparent` the body carries.
    @Test func aRequestsTraceGoesOnToItsDatabaseCallsAndWebhook() async throws {
        let tracer = W3CTestTracer()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.webhookAllowPrivate = true
        try await buildApplication(config, logger: makeLogger(config), traces: Traces(tracer)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let hook = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(receiver.url())","events":["agent_created"]}"#)
            #expect(hook.status == .created)
            let trace = W3CTestTracer.hex(16)
            let created = try await admin.send(
                .post,
                "/v1/agents",
                json: #"{"name":"Traced","llm_config":{"model":"gpt-4o-mini"}}"#,
                headers: [.traceparent: "00-\(trace)-\(W3CTestTracer.hex(8))-01"]
            )
            #expect(created.status == .created)
            let server = try #require(tracer.finished.first { $0.traceID == trace && $0.kind == .server })
            #expect(server.operationName == "POST /v1/agents" && server.attributes.get("http.response.status_code") == .int64(201))
            let database = tracer.finished.filter { $0.traceID == trace && $0.attributes.get("db.system.name") == .string("postgresql") }
            #expect(!database.isEmpty && database.allSatisfy { $0.kind == .client && $0.parentSpanID == server.spanID })

            #expect(try await eventually(20) { receiver.received.contains { $0.json?["data"]?["agent_name"] == .string("Traced") } })
            let delivery = try #require(receiver.received.first { $0.json?["data"]?["agent_name"] == .string("Traced") })
            let traceparent = try #require(delivery.json?["traceparent"]?.stringValue).split(separator: "-").map(String.init)
            #expect(traceparent.count == 4 && traceparent[1] == trace)
            // The delivery's span ends after the receiver has answered: wait for it.
            #expect(try await eventually(20) { tracer.finished.contains { $0.traceID == trace && $0.spanID == traceparent[2] } })
            let post = try #require(tracer.finished.first { $0.traceID == trace && $0.spanID == traceparent[2] })
            #expect(post.kind == .client && post.attributes.get("http.response.status_code") == .int64(200))
            #expect(database.contains { $0.spanID == post.parentSpanID }, "the call that wrote the event is the delivery's parent")
        }
    }

    /// Off, nothing is traced: a caller's `traceparent` is read for the log lines only, and the
    /// events carry none.
    @Test func offTheEventsCarryNoTrace() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.webhookAllowPrivate = true
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let hook = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(receiver.url())","events":["agent_created"]}"#)
            #expect(hook.status == .created)
            let created = try await admin.send(
                .post,
                "/v1/agents",
                json: #"{"name":"Untraced","llm_config":{"model":"gpt-4o-mini"}}"#,
                headers: [.traceparent: "00-\(W3CTestTracer.hex(16))-\(W3CTestTracer.hex(8))-01"]
            )
            #expect(created.status == .created)
            #expect(try await eventually(20) { receiver.received.contains { $0.json?["data"]?["agent_name"] == .string("Untraced") } })
            let delivery = try #require(receiver.received.first { $0.json?["data"]?["agent_name"] == .string("Untraced") })
            #expect(delivery.json?["traceparent"] == nil)
        }
    }

    /// A task whose message carries `metadata.traceparent` is processed as a CONSUMER span in that
    /// trace, its database calls as children; one this service queues in a trace carries it there
    /// itself, after a Redis span of the request.
    @Test func aTaskIsProcessedInTheTraceOfItsMessage() async throws {
        let tracer = W3CTestTracer()
        let q = try await TestQueues()
        let config = try q.configuration()
        try await buildApplication(config, logger: makeLogger(config), traces: Traces(tracer)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Queued")
            let (trace, producer) = (W3CTestTracer.hex(16), W3CTestTracer.hex(8))
            let task = TaskMessage(
                tenantID: tenant,
                type: .agentUpdate,
                metadata: ["traceparent": .string("00-\(trace)-\(producer)-01")],
                payload: ["agent_id": .string(agent.id), "config": .object(["description": .string("from a traced task")])]
            )
            try await q.redis.xadd(task.type.queue.key(tenant), [("message", String(decoding: task.json.encoded, as: UTF8.self))])
            #expect(try await q.finished(admin, task.taskID.uuidString)["status"] == .string("completed"))
            let consumer = try #require(tracer.finished.first { $0.traceID == trace && $0.kind == .consumer })
            #expect(consumer.parentSpanID == producer && consumer.operationName == "process agent_update")
            #expect(consumer.attributes.get("messaging.message.id") == .string(task.taskID.uuidString.lowercased()))
            #expect(tracer.finished.contains { $0.traceID == trace && $0.parentSpanID == consumer.spanID && $0.kind == .client })

            let requested = W3CTestTracer.hex(16)
            let validate = try await admin.send(
                .post,
                "/v1/agents/\(agent.id)/validate",
                headers: [.traceparent: "00-\(requested)-\(W3CTestTracer.hex(8))-01"]
            )
            #expect(validate.status == .accepted)
            let queued = try #require(try validate.json()["task_id"]?.stringValue)
            #expect(try await q.finished(admin, queued)["status"] == .string("completed"))
            let server = try #require(tracer.finished.first { $0.traceID == requested && $0.kind == .server })
            #expect(tracer.finished.contains { $0.parentSpanID == server.spanID && $0.attributes.get("db.system.name") == .string("redis") })
            #expect(try await eventually(10) { tracer.finished.contains { $0.traceID == requested && $0.kind == .consumer } })
        }
    }
}
