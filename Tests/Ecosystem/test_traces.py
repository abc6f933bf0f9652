"""OpenTelemetry traces, end to end: the service started with the standard OTEL_* variables
exports over OTLP/HTTP (protobuf) to a receiver here, whose requests `opentelemetry-proto` (PyPI)
parses. A request that sends a `traceparent` is a SERVER span continuing it, with the HTTP
semantic conventions' attributes and the resource's `service.name`; its database calls are child
spans in the same trace; and the webhook delivery of the event it wrote carries a `traceparent`
header in that trace, that of the delivery's own CLIENT span."""

import http.server
import os
import threading
import unittest

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ams import Service, eventually

AGENT = {"llm_config": {"model": "gpt-4o-mini"}}


class Loopback:
    """An HTTP server on loopback whose handler keeps what `record` makes of each POST."""

    def __init__(self, record, answer=b"", content_type="application/json"):
        self.received = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                kept = record(self.path, dict(self.headers.items()), body)
                with owner.lock:
                    owner.received.extend(kept)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def items(self):
        with self.lock:
            return list(self.received)


def exported_spans(path, headers, body):
    """Each span of an OTLP/HTTP export, with its resource's attributes."""
    assert path == "/v1/traces", path
    assert headers.get("Content-Type") == "application/x-protobuf", headers
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            spans.extend((resource, span) for span in scope_spans.spans)
    return spans


def attributes(pairs):
    values = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        values[pair.key] = getattr(pair.value, kind) if kind else None
    return values


class TracesTest(unittest.TestCase):
    def test_a_request_is_traced_to_its_database_calls_and_webhook(self):
        trace = os.urandom(16).hex()
        caller = os.urandom(8).hex()
        with Loopback(exported_spans, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf") as collector, \
                Loopback(lambda path, headers, body: [(headers, body)]) as receiver:
            env = {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.base,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_SERVICE_NAME": "ams-ecosystem",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "AMS_WEBHOOK_ALLOW_PRIVATE": "1",
            }
            with Service("traces", env) as ams:
                token = ams.token("eco-traces")
                hook = ams.request("POST", "/v1/webhooks", {"url": receiver.base + "/hook", "events": ["agent_created"]}, token)
                self.assertEqual(hook.status, 201, hook.body)
                created = ams.request("POST", "/v1/agents", {"name": "Traced", **AGENT}, token,
                                      headers={"traceparent": f"00-{trace}-{caller}-01"})
                self.assertEqual(created.status, 201, created.body)

                def in_trace():
                    return [(resource, span) for resource, span in collector.items() if span.trace_id.hex() == trace]

                def server_span():
                    return next(((r, s) for r, s in in_trace() if s.kind == Span.SPAN_KIND_SERVER), None)

                resource, server = eventually(server_span, timeout=30)
                self.assertEqual(server.parent_span_id.hex(), caller, "the caller's span is the parent")
                self.assertEqual(resource.get("service.name"), "ams-ecosystem")
                self.assertEqual(server.name, "POST /v1/agents")
                server_attributes = attributes(server.attributes)
                self.assertEqual(server_attributes.get("http.route"), "/v1/agents")
                self.assertEqual(server_attributes.get("http.request.method"), "POST")
                self.assertEqual(server_attributes.get("http.response.status_code"), 201)

                database = eventually(lambda: [s for _, s in in_trace()
                                               if attributes(s.attributes).get("db.system.name") == "postgresql"], timeout=30)
                self.assertTrue(all(s.kind == Span.SPAN_KIND_CLIENT for s in database))
                span_ids = {s.span_id for _, s in in_trace()}
                self.assertTrue(all(s.parent_span_id in span_ids for s in database), "children of the request's spans")

                # The delivery of the event the request wrote, in the same trace.
                headers, body = eventually(lambda: next((d for d in receiver.items() if b'"Traced"' in d[1]), None), timeout=30)
                version, trace_id, parent, flags = headers["traceparent"].split("-")
                self.assertEqual((version, trace_id, flags), ("00", trace, "01"))
                delivery = eventually(lambda: next((s for _, s in in_trace() if s.span_id.hex() == parent), None), timeout=30)
                self.assertEqual(delivery.kind, Span.SPAN_KIND_CLIENT)
                self.assertEqual(attributes(delivery.attributes).get("http.response.status_code"), 200)

                # The cached read answered without the router has its route template too.
                agent = created.json()["id"]
                self.assertEqual(ams.request("GET", f"/v1/agents/{agent}", token=token).status, 200)
                read = eventually(lambda: next((s for _, s in collector.items() if s.kind == Span.SPAN_KIND_SERVER
                                                and attributes(s.attributes).get("http.route") == "/v1/agents/{id}"), None),
                                  timeout=30)
                self.assertEqual(read.name, "GET /v1/agents/{id}")
                self.assertEqual(attributes(read.attributes).get("http.response.status_code"), 200)


if __name__ == "__main__":
    unittest.main()
