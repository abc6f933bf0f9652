"""The web console (GET /console) in a real browser: Playwright driving Debian's chromium against
the real binary. Sign in, the list and its search, another tenant kept out, a refused token, the
diff of two versions, rollback with its confirmation, history, a viewer's read-only pages, the
webhook log, tasks, a live update without reload, the keyboard, and axe-core on every page.
Screenshots go to .local/console/."""

import http.server
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Ecosystem"))
from ams import BIN, LOCAL, Service, eventually  # noqa: E402

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

CHROMIUM = os.environ.get("AMS_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.path.join(LOCAL, "console")
REFUSED = "invalid or expired token"
expect.set_options(timeout=15_000)


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that fails the first attempt at every event (500) and takes the next."""
    seen = set()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        event = json.loads(body).get("event_id")
        first = event not in Receiver.seen
        Receiver.seen.add(event)
        self.send_response(500 if first else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class ConsoleTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(SHOTS, exist_ok=True)
        cls.service = Service("console", {"AMS_WEBHOOK_ALLOW_PRIVATE": "1", "AMS_WEBHOOK_RETRY_SCHEDULE": "500ms"})
        cls.ams = cls.service.__enter__()
        cls.receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=cls.receiver.serve_forever, daemon=True).start()
        try:
            cls.admin = cls.token("acme", "admin", "ada@acme")
            cls.viewer = cls.token("acme", "viewer", "vic@acme")
            cls.other = cls.token("globex", "admin", "gus@globex")
            cls.watcher = cls.token("umbrella", "admin", "uma@umbrella")
            cls.seed()
            cls.playwright = sync_playwright().start()
            cls.browser = cls.playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "browser", None):
            cls.browser.close()
        if getattr(cls, "playwright", None):
            cls.playwright.stop()
        cls.receiver.shutdown()
        cls.service.__exit__(None, None, None)

    @classmethod
    def token(cls, tenant, role, subject):
        return subprocess.run([BIN, "token", "--tenant", tenant, "--role", role, "--subject", subject, "--ttl", "30m"],
                              env=cls.ams.env, check=True, capture_output=True, text=True).stdout.strip()

    @classmethod
    def call(cls, method, path, body=None, token=None, status=200):
        response = cls.ams.request(method, path, body, token or cls.admin)
        assert response.status == status, f"{method} {path}: {response.status} {response.body[:300]!r}"
        return response.json() if response.body else None

    @classmethod
    def agent(cls, name, **fields):
        body = {"name": name, "llm_config": {"model": "gpt-4o-mini", "temperature": 0.3}}
        body.update(fields)
        return cls.call("POST", "/v1/agents", body, status=201)

    @classmethod
    def seed(cls):
        hook = cls.call("POST", "/v1/webhooks", {
            "url": f"http://127.0.0.1:{cls.receiver.server_address[1]}/hook", "events": ["*"]}, status=201)
        cls.hook = hook["id"]
        cls.support = cls.agent("Support bot", type="rag", description="Answers support questions",
                                collections=["kb-support"], tags=["support"])
        cls.call("PATCH", f"/v1/agents/{cls.support['id']}", {"description": "Answers questions from the knowledge base"})
        cls.call("PATCH", f"/v1/agents/{cls.support['id']}",
                 {"llm_config": {"temperature": 0.7}, "tags": ["support", "eu"]})
        cls.call("PUT", f"/v1/agents/{cls.support['id']}/aliases/staging", {"version": 2})
        for name in ("Sales helper", "Triage", "Onboarding guide"):
            cls.agent(name, description=f"The {name.lower()}")
        cls.rollback = cls.agent("Rollback subject", description="first words")
        cls.call("PATCH", f"/v1/agents/{cls.rollback['id']}", {"description": "second words"})
        cls.call("PATCH", f"/v1/agents/{cls.rollback['id']}", {"description": "third words"})
        cls.globex = cls.call("POST", "/v1/agents", {"name": "Globex secret agent", "llm_config": {"model": "gpt-4o-mini"}},
                              token=cls.other, status=201)
        cls.call("POST", f"/v1/agents/{cls.support['id']}/validate", {}, status=202)

    # -- helpers --

    def open(self, token=None, hash_=""):
        context = self.browser.new_context(viewport={"width": 1280, "height": 860})
        self.addCleanup(context.close)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        # A refused call is logged by the browser itself; anything else is the console's fault.
        self.addCleanup(lambda: self.assertEqual(
            [e for e in errors if not e.startswith("Failed to load resource")], [], "errors in the page"))
        page.goto(self.ams.base + "/console" + hash_)
        if token:
            self.sign_in(page, token)
        return page

    def sign_in(self, page, token):
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    def agent_page(self, page, agent, section=None):
        page.goto(f"{self.ams.base}/console#/agents/{agent['id']}")
        expect(page.get_by_role("heading", level=1, name=agent["name"])).to_be_visible()
        if section:
            page.get_by_role("tab", name=section).click()
            expect(page.get_by_role("tab", name=section)).to_have_attribute("aria-selected", "true")

    def rows(self, page):
        return page.locator("#agents tbody tr")

    def assert_accessible(self, page, where):
        results = Axe().run(page)
        serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        self.assertEqual(serious, [], f"axe on {where}: " + json.dumps(
            [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in serious]))

    # -- tests --

    def test_sign_in_shows_the_tenants_agents_and_search_narrows_them(self):
        page = self.open(self.admin)
        expect(page.get_by_role("heading", name="Agents")).to_be_visible()
        expect(self.rows(page)).to_have_count(5)
        for name in ("Support bot", "Sales helper", "Triage", "Onboarding guide", "Rollback subject"):
            expect(page.get_by_role("link", name=name)).to_be_visible()
        expect(page.get_by_text("Globex secret agent")).to_have_count(0)
        row = self.rows(page).filter(has=page.get_by_role("link", name="Support bot"))
        expect(row).to_contain_text("rag")
        expect(row).to_contain_text("3")
        expect(row).to_contain_text("valid")
        page.screenshot(path=os.path.join(SHOTS, "list.png"), full_page=True)

        page.get_by_label("Search").fill("support")
        page.get_by_label("Search").press("Enter")
        expect(self.rows(page)).to_have_count(1)
        expect(page.get_by_role("link", name="Support bot")).to_be_visible()
        page.get_by_label("Search").fill("")
        page.get_by_label("Type").select_option("rag")
        expect(self.rows(page)).to_have_count(1)

        # The token lives in sessionStorage only, and Sign out clears it.
        stored = page.evaluate("() => [sessionStorage.length, localStorage.length, document.cookie]")
        self.assertEqual(stored, [1, 0, ""])
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("Token")).to_be_visible()
        self.assertEqual(page.evaluate("() => sessionStorage.length"), 0)

    def test_the_list_pages_with_the_cursor(self):
        page = self.open(self.admin)
        expect(self.rows(page)).to_have_count(5)
        # 20 to a page: more agents of a tenant of its own make a second page.
        token = self.token("initech", "admin", "ian@initech")
        for i in range(23):
            self.call("POST", "/v1/agents", {"name": f"Agent {i:02}", "llm_config": {"model": "gpt-4o-mini"}}, token=token, status=201)
        page.get_by_role("button", name="Sign out").click()
        self.sign_in(page, token)
        expect(self.rows(page)).to_have_count(20)
        expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
        page.get_by_role("button", name="Next page").click()
        expect(self.rows(page)).to_have_count(3)
        expect(page.get_by_role("button", name="Next page")).to_be_disabled()
        expect(page.get_by_role("link", name="Agent 00")).to_be_visible()
        page.get_by_role("button", name="Previous page").click()
        expect(self.rows(page)).to_have_count(20)

    def test_another_tenant_sees_only_its_own_agents(self):
        page = self.open(self.other)
        expect(self.rows(page)).to_have_count(1)
        expect(page.get_by_role("link", name="Globex secret agent")).to_be_visible()
        expect(page.get_by_text("Support bot")).to_have_count(0)
        # Even by address, another tenant's agent is not shown.
        page.goto(f"{self.ams.base}/console#/agents/{self.support['id']}")
        expect(page.get_by_role("heading", level=1, name="Agent not found")).to_be_visible()
        expect(page.get_by_text("Answers questions")).to_have_count(0)

    def test_a_refused_token_is_said_plainly(self):
        good = self.admin.split(".")
        forged = ".".join(good[:2] + [good[2][::-1]])
        for token in ("not-a-token", forged, "ünïcode"):
            page = self.open()
            page.get_by_label("Token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text(REFUSED)
            expect(page.get_by_role("table")).to_have_count(0)
            expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
            self.assertEqual(page.evaluate("() => sessionStorage.length"), 0)
        # A token refused mid-session (here: gone from storage, as after expiry) ends it with the words.
        page = self.open(self.admin)
        page.evaluate("() => sessionStorage.setItem('ams.console.token', 'x.y.z')")
        page.get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("alert")).to_contain_text(REFUSED)
        expect(page.get_by_label("Token")).to_be_visible()

    def test_the_diff_between_two_versions_shows_paths_with_old_and_new_values(self):
        page = self.open(self.admin)
        self.agent_page(page, self.support, "Versions")
        for n in (3, 2, 1):
            expect(page.get_by_role("cell", name=f"version {n}", exact=True)).to_be_visible()
        self.assertEqual(page.get_by_label("From").locator("option").evaluate_all("o => o.map(x => x.value)"), ["3", "2", "1"])
        page.get_by_label("From").select_option("1")
        page.get_by_label("To").select_option("3")
        diff = page.locator("#diff table")
        expect(diff).to_contain_text("from version 1 to version 3")
        api = self.call("GET", f"/v1/agents/{self.support['id']}/diff?from=1&to=3")
        paths = [op["path"] for op in api["changes"]]
        self.assertIn("/description", paths)
        expect(diff.locator("tbody tr")).to_have_count(len(paths))
        row = diff.locator("tbody tr").filter(has_text="/description")
        expect(row.locator("td.old")).to_contain_text("Answers support questions")
        expect(row.locator("td.new")).to_contain_text("Answers questions from the knowledge base")
        row = diff.locator("tbody tr").filter(has_text="/llm_config/temperature")
        expect(row.locator("td.old")).to_have_text("0.3")
        expect(row.locator("td.new")).to_have_text("0.7")
        page.screenshot(path=os.path.join(SHOTS, "diff.png"), full_page=True)
        self.assert_accessible(page, "the versions section")

    def test_rollback_asks_for_confirmation_and_makes_a_new_version(self):
        agent = self.rollback
        page = self.open(self.admin)
        self.agent_page(page, agent, "Versions")
        expect(page.locator("#agent-version")).to_have_text("version 3")
        # Refused at the confirmation: nothing is written.
        messages = []
        page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
        page.get_by_role("button", name="Roll back to version 1").click()
        eventually(lambda: messages)
        self.assertIn("Roll back to version 1?", messages[0])
        self.assertEqual(self.call("GET", f"/v1/agents/{agent['id']}")["version"], 3)
        # Confirmed: version 4 with version 1's configuration.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Roll back to version 1").click()
        expect(page.locator("#agent-version")).to_have_text("version 4")
        expect(page.get_by_role("button", name="Roll back to version 3")).to_be_visible()
        stored = self.call("GET", f"/v1/agents/{agent['id']}")
        self.assertEqual((stored["version"], stored["description"]), (4, "first words"))
        history = self.call("GET", f"/v1/agents/{agent['id']}/history")["items"]
        self.assertEqual((history[0]["action"], history[0]["actor"]), ("rolled_back", "ada@acme"))

    def test_history_lists_every_action_with_actor_roles_time_and_request_id(self):
        page = self.open(self.admin)
        self.agent_page(page, self.support, "History")
        entries = self.call("GET", f"/v1/agents/{self.support['id']}/history")["items"]
        rows = page.locator("#panel tbody tr")
        expect(rows).to_have_count(len(entries))
        self.assertEqual([e["action"] for e in entries][-1], "created")
        expect(rows.last).to_contain_text("created")
        expect(rows.first).to_contain_text(entries[0]["action"].replace("_", " "))
        for entry in entries:
            if entry["request_id"]:
                expect(page.get_by_text(entry["request_id"])).to_be_visible()
        expect(rows.filter(has_text="alias moved").last).to_contain_text("staging: none → 2")
        expect(rows.filter(has_text="created")).to_contain_text("ada@acme")
        expect(rows.filter(has_text="created")).to_contain_text("admin")
        self.assert_accessible(page, "the history section")

    def test_aliases_status_and_configuration_are_shown_and_changed_as_allowed(self):
        page = self.open(self.admin)
        self.agent_page(page, self.support, "Configuration")
        expect(page.locator("#panel")).to_contain_text("gpt-4o-mini")
        expect(page.locator("#panel")).to_contain_text("kb-support")
        self.assert_accessible(page, "the configuration section")
        page.get_by_role("tab", name="Aliases").click()
        # The "Points to" cell: the row's select lists every version, so the row's text has them all.
        points_to = page.locator("#panel tbody tr").filter(has_text="staging").locator("td").nth(1)
        expect(points_to).to_have_text("version 2")
        page.get_by_label("Version for staging").select_option("3")
        page.get_by_role("button", name="Move staging", exact=True).click()
        expect(points_to).to_have_text("version 3")
        aliases = self.call("GET", f"/v1/agents/{self.support['id']}/aliases")["items"]
        self.assertEqual([(a["name"], a["version"]) for a in aliases], [("staging", 3)])
        self.assert_accessible(page, "the aliases section")
        page.get_by_role("tab", name="Status").click()
        expect(page.get_by_role("button", name="Set status to active")).to_be_visible()
        expect(page.get_by_role("button", name="Set status to inactive")).to_have_count(0)
        self.assert_accessible(page, "the status section")

    def test_a_viewer_sees_no_rollback_edit_or_delete_control(self):
        page = self.open(self.viewer)
        self.agent_page(page, self.support, "Versions")
        expect(page.get_by_label("From")).to_be_visible()
        expect(page.get_by_role("button", name="Roll back", exact=False)).to_have_count(0)
        page.get_by_role("tab", name="Aliases").click()
        expect(page.locator("#panel")).to_contain_text("staging")
        page.get_by_role("tab", name="Status").click()
        expect(page.locator("#panel")).to_contain_text("may go to")
        for section in ("Configuration", "Versions", "History", "Aliases", "Status"):
            page.get_by_role("tab", name=section).click()
            expect(page.get_by_role("tab", name=section)).to_have_attribute("aria-selected", "true")
            expect(page.locator("#panel h2").first).to_be_visible()
            controls = "#panel button:not([hidden]), #panel select:not(#diff-from):not(#diff-to), #panel input"
            self.assertEqual(page.locator(controls).count(), 0, section)
        self.assert_accessible(page, "a viewer's agent page")

    def test_the_webhook_log_shows_status_lag_and_attempts_with_failures(self):
        deliveries = eventually(lambda: [d for d in self.call("GET", f"/v1/webhooks/{self.hook}/deliveries?limit=200")["items"]
                                         if d["status_code"] == 204] and
                                self.call("GET", f"/v1/webhooks/{self.hook}/deliveries?limit=200")["items"])
        self.assertTrue(any(d["status_code"] == 500 for d in deliveries))
        page = self.open(self.admin, "#/webhooks")
        section = page.get_by_role("region", name=f"http://127.0.0.1:{self.receiver.server_address[1]}/hook")
        expect(section).to_contain_text("active")
        expect(section.locator("tr.fail").first).to_contain_text("500")
        expect(section.locator("tr.fail").first).to_contain_text("failed")
        expect(section.locator("tbody tr").filter(has_text="204").first).to_contain_text("delivered")
        expect(section.get_by_text("Lag")).to_be_visible()
        page.screenshot(path=os.path.join(SHOTS, "webhooks.png"), full_page=True)
        self.assert_accessible(page, "the webhooks page")

    def test_tasks_show_type_status_progress_and_attempts(self):
        eventually(lambda: self.call("GET", "/v1/tasks")["items"][0]["status"] == "completed")
        page = self.open(self.admin, "#/tasks")
        row = page.locator("#tasks tbody tr").first
        expect(row).to_contain_text("agent_validate")
        expect(row).to_contain_text("completed")
        expect(row.get_by_role("progressbar")).to_have_attribute("value", "100")
        self.assert_accessible(page, "the tasks page")

    def test_a_change_made_elsewhere_shows_without_a_reload(self):
        agent = self.call("POST", "/v1/agents", {"name": "Live one", "description": "before", "llm_config": {"model": "gpt-4o-mini"}},
                          token=self.watcher, status=201)
        page = self.open(self.watcher)
        self.agent_page(page, agent, "Configuration")
        expect(page.locator("#panel")).to_contain_text("before")
        page.evaluate("() => { window.stillThisPage = true; }")
        self.call("PATCH", f"/v1/agents/{agent['id']}", {"description": "after, from elsewhere"}, token=self.watcher)
        expect(page.locator("#panel")).to_contain_text("after, from elsewhere")
        expect(page.locator("#agent-version")).to_have_text("version 2")
        self.call("POST", f"/v1/agents/{agent['id']}/status", {"status": "archived"}, token=self.watcher)
        expect(page.locator("#agent-meta")).to_contain_text("archived")
        self.assertTrue(page.evaluate("() => window.stillThisPage === true"), "the page was reloaded")
        expect(page.locator("#live")).to_have_text("Live")

    def test_the_console_works_with_the_keyboard(self):
        page = self.open()
        expect(page.get_by_label("Token")).to_be_visible()
        for _ in range(10):
            if page.evaluate("() => document.activeElement.id") == "token":
                break
            page.keyboard.press("Tab")
        self.assertEqual(page.evaluate("() => document.activeElement.id"), "token")
        page.keyboard.insert_text(self.admin)
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        self.assert_accessible(page, "the list")
        link = page.get_by_role("link", name="Support bot")
        link.focus()
        page.keyboard.press("Enter")
        tab = page.get_by_role("tab", name="Configuration")
        expect(tab).to_have_attribute("aria-selected", "true")
        tab.focus()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("tab", name="Versions")).to_be_focused()
        expect(page.get_by_role("tab", name="Versions")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_label("From")).to_be_visible()

    def test_the_sign_in_page_is_accessible(self):
        page = self.open()
        expect(page.get_by_label("Token")).to_be_visible()
        self.assert_accessible(page, "the sign-in page")


if __name__ == "__main__":
    unittest.main(verbosity=2)
