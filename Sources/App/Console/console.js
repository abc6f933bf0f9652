// The console's entry: sign in and out, the sections (#/agents, #/agents/<id>, #/webhooks,
// #/tasks), and the live events handed to the section on screen.

import { api, session, whenRefused } from "./api.js";
import { h, fill, announce } from "./dom.js";
import { follow } from "./live.js";
import { agentsView } from "./agents.js";
import { agentView } from "./agent.js";
import { webhooksView } from "./webhooks.js";
import { tasksView } from "./tasks.js";

const REFUSED = "invalid or expired token";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const live = document.getElementById("live");
const signOut = document.getElementById("sign-out");
let view = null;
let stopLive = null;
let tenant = null;

function showSignIn(message = "") {
  leaveSession();
  document.title = "Sign in · Agent console";
  const field = h("textarea", { id: "token", name: "token", rows: "4", autocomplete: "off", spellcheck: "false", "aria-describedby": "token-help" });
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert" }, message);
  const form = h("form", { class: "card signin", novalidate: true },
    h("h1", {}, "Sign in"),
    h("p", {}, h("label", { for: "token" }, "Token")),
    field,
    h("p", { id: "token-help", class: "muted" },
      "A JWT for your tenant; ", h("code", {}, "agent-management token --tenant T --role admin"),
      " prints one. It is kept in this browser tab only, until you sign out."),
    h("p", {}, h("button", { type: "submit" }, "Sign in")),
    error);
  // A token is one line: Enter signs in.
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = field.value.trim();
    error.textContent = "";
    // A header value must be visible ASCII: anything else cannot be a token.
    if (!/^[\x21-\x7e]+$/.test(token)) {
      error.textContent = token ? `Sign-in refused: ${REFUSED}.` : "Paste a token first.";
      return;
    }
    session.start(token);
    try {
      await enter();
    } catch (failure) {
      session.end();
      const refused = failure.status === 401 || failure.status === 403 || failure.code === "AMS-205";
      error.textContent = refused ? `Sign-in refused: ${REFUSED} (${failure.code}: ${failure.message}).` : failure.message;
    }
  });
  fill(main, form);
  field.focus();
}

/** Checks the token with the API, then shows the console for its tenant. */
async function enter() {
  tenant = await api("GET", "/v1/tenant");
  const roles = (session.claims.roles || []).filter((r) => ["viewer", "editor", "admin"].includes(r));
  fill(who, `Tenant ${tenant.tenant_id} (${tenant.tier}) · ${roles.join(", ") || "no role"}`);
  nav.hidden = false;
  signOut.hidden = false;
  live.hidden = false;
  stopLive = follow({
    onEvent: (event) => view && view.onEvent && view.onEvent(event),
    onState: (state) => {
      live.dataset.state = state;
      live.textContent = { live: "Live", connecting: "Connecting…", offline: "Offline, reconnecting" }[state];
    },
    onRefused: ended,
  });
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/agents");
  route();
}

function leaveSession() {
  if (stopLive) stopLive();
  stopLive = null;
  if (view && view.leave) view.leave();
  view = null;
  nav.hidden = true;
  signOut.hidden = true;
  live.hidden = true;
  fill(who);
}

function route() {
  if (!session.token || !tenant) return;
  if (view && view.leave) view.leave();
  const [section, id] = location.hash.slice(2).split("/");
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${section}`);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  if (section === "agents" && id) view = agentView(main, decodeURIComponent(id));
  else if (section === "webhooks") view = webhooksView(main);
  else if (section === "tasks") view = tasksView(main);
  else view = agentsView(main, tenant);
  main.focus({ preventScroll: true });
}

/** The API refused the token mid-session (it expired, say): back to the sign-in, saying why. */
function ended() {
  session.end();
  tenant = null;
  showSignIn(`Your session ended: ${REFUSED}. Sign in again.`);
}

// While signing in (no tenant yet) the sign-in form says it itself.
whenRefused(() => { if (tenant) ended(); });
window.addEventListener("hashchange", () => { if (location.hash.startsWith("#/")) route(); });
signOut.addEventListener("click", () => {
  session.end();
  tenant = null;
  showSignIn();
  announce("Signed out.");
});

if (session.token) {
  enter().catch((failure) => {
    if (failure.status === 401 || failure.status === 403) return ended();
    session.end();
    showSignIn(failure.message);
  });
} else {
  showSignIn();
}
