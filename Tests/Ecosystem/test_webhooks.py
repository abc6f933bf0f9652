"""Standard Webhooks: every delivery verifies with the `standardwebhooks` library (PyPI), the
reference implementation of the specification, given the endpoint's secret as the API shows it;
a wrong secret fails; `webhook-id` is the event's id on every attempt; after a rotation both
secrets verify; and a secret of an earlier release (`whsec_` and 64 hex digits) still verifies."""

import base64
import http.server
import os
import subprocess
import threading
import unittest

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ams import ADMIN_URL, Service, eventually

AGENT = {"llm_config": {"model": "gpt-4o-mini"}}


class Receiver:
    """An HTTP server on loopback that records each POST (headers, raw body) and answers with the
    scripted statuses first, then 200."""

    def __init__(self):
        self.received = []
        self.answers = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self):
        with self.lock:
            return list(self.received)


class StandardWebhooksTest(unittest.TestCase):
    def assertVerifies(self, secret, headers, body):
        return Webhook(secret).verify(body, headers)

    def assertRefused(self, secret, headers, body):
        with self.assertRaises(WebhookVerificationError):
            Webhook(secret).verify(body, headers)

    def test_deliveries_verify_with_the_library(self):
        env = {"AMS_WEBHOOK_ALLOW_PRIVATE": "1", "AMS_WEBHOOK_RETRY_SCHEDULE": "300ms"}
        with Receiver() as receiver, Service("webhooks", env) as ams:
            token = ams.token("eco-webhooks")
            created = ams.request("POST", "/v1/webhooks", {"url": receiver.url, "events": ["agent_created"]}, token)
            self.assertEqual(created.status, 201, created.body)
            hook, secret = created.json()["id"], created.json()["secret"]
            wrong = "whsec_" + base64.b64encode(os.urandom(32)).decode()
            database = ADMIN_URL.rsplit("/", 1)[0] + "/ams_eco_webhooks"

            def sql(statement):
                return subprocess.run(["psql", database, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", statement],
                                      check=True, capture_output=True, text=True).stdout.strip()

            def idle():
                """No worker holds the endpoint: what it delivered is recorded, its lease given back."""
                return sql(f"SELECT lease_token IS NULL FROM webhooks WHERE id = '{hook}'") == "t"

            # The first attempt fails: the event comes again, with the same webhook-id.
            receiver.answers = [500]
            self.assertEqual(ams.request("POST", "/v1/agents", {"name": "Hooked", **AGENT}, token).status, 201)
            eventually(lambda: len(receiver.deliveries()) >= 2, timeout=30)
            (first, first_body), (retry, retry_body) = receiver.deliveries()[:2]
            for headers, body in ((first, first_body), (retry, retry_body)):
                payload = self.assertVerifies(secret, headers, body)
                self.assertEqual(payload["event"], "agent_created")
                self.assertEqual(headers["X-AMS-Event"], "agent_created")
                self.assertEqual(headers["webhook-id"], payload["event_id"])
                self.assertRefused(wrong, headers, body)
            self.assertEqual(first["webhook-id"], retry["webhook-id"])
            attempts = eventually(lambda: [a for a in ams.request("GET", f"/v1/webhooks/{hook}/deliveries", token=token).json()["items"]
                                           if a["succeeded"]], timeout=30)
            self.assertEqual(attempts[0]["event_id"], first["webhook-id"], "the event's id, as the deliveries list it")

            eventually(idle)

            # A rotation: for the day after it, each delivery verifies with either secret.
            rotated = ams.request("POST", f"/v1/webhooks/{hook}/rotate-secret", token=token)
            self.assertEqual(rotated.status, 200, rotated.body)
            new = rotated.json()["secret"]
            self.assertNotEqual(new, secret)
            self.assertEqual(ams.request("POST", "/v1/agents", {"name": "Rotated", **AGENT}, token).status, 201)
            headers, body = eventually(lambda: next((d for d in receiver.deliveries() if b'"Rotated"' in d[1]), None), timeout=30)
            self.assertEqual(self.assertVerifies(secret, headers, body)["data"]["agent_name"], "Rotated")
            self.assertEqual(self.assertVerifies(new, headers, body)["data"]["agent_name"], "Rotated")
            self.assertRefused(wrong, headers, body)

            # A secret stored by an earlier release keeps working, handed to the library as it was shown.
            earlier = "whsec_" + "0123456789abcdef" * 4
            eventually(idle)
            sql(f"UPDATE webhooks SET secret = '{earlier}', previous_secret = NULL WHERE id = '{hook}'")
            self.assertEqual(ams.request("POST", "/v1/agents", {"name": "Earlier", **AGENT}, token).status, 201)
            headers, body = eventually(lambda: next((d for d in receiver.deliveries() if b'"Earlier"' in d[1]), None), timeout=30)
            self.assertEqual(self.assertVerifies(earlier, headers, body)["data"]["agent_name"], "Earlier")
            self.assertRefused(new, headers, body)


if __name__ == "__main__":
    unittest.main()
