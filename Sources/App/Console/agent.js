// #/agents/<id>: one agent, its sections (Configuration, Versions, History, Aliases, Status),
// kept up to date by the live events.

import { api, session } from "./api.js";
import { h, fill, time, pill, value, problem, tabs, announce } from "./dom.js";
import { versionsPanel } from "./versions.js";

const SECTIONS = ["Configuration", "Versions", "History", "Aliases", "Status"];
// The lifecycle (openapi.yaml, AgentStatus); entering `active` takes `admin`.
const NEXT = { draft: ["active", "archived"], active: ["inactive", "archived"], inactive: ["active", "archived"], archived: ["draft"] };

export function agentView(main, id) {
  const path = `/v1/agents/${encodeURIComponent(id)}`;
  const can = session.can;
  const selection = {};
  let agent = null;
  let section = "Configuration";
  const heading = h("h1", {}, "Agent");
  const meta = h("p", { class: "meta", id: "agent-meta" });
  const panel = h("section", { id: "panel", role: "tabpanel", tabindex: "0" });
  const notice = h("div", { id: "agent-notice" });
  fill(main, h("p", {}, h("a", { href: "#/agents" }, "All agents")), heading, meta, notice);

  function head() {
    document.title = `${agent.name} · Agent console`;
    heading.textContent = agent.name;
    fill(meta,
      pill(agent.status), h("span", { id: "agent-version" }, `version ${agent.version}`), h("span", {}, agent.type),
      h("span", {}, "validation ", pill(agent.validation.status)),
      h("span", {}, "updated ", time(agent.updated_at), ` by ${agent.updated_by}`));
  }

  async function show() {
    panel.setAttribute("aria-labelledby", `tab-${section.toLowerCase()}`);
    const wasInside = panel.contains(document.activeElement);
    const focused = wasInside ? document.activeElement.id : "";
    const body = h("div");
    try {
      if (section === "Configuration") configuration(body, agent);
      else if (section === "Versions") await versionsPanel(body, agent, { can, selection, path, changed });
      else if (section === "History") await history(body, path);
      else if (section === "Aliases") await aliases(body, agent, path, can, changed);
      else await status(body, agent, path, can, changed);
    } catch (error) {
      fill(body, problem(error));
    }
    fill(panel, body);
    // Keyboard users keep their place: the same control, or else the panel.
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    else if (wasInside) panel.focus();
  }

  /** After a write of this page, or a live event: read the agent again and redraw. */
  async function changed(message) {
    const before = agent;
    try {
      agent = await api("GET", path);
    } catch (error) {
      fill(notice, error.status === 404 ? h("p", { class: "error", role: "alert" }, "This agent no longer exists (deleted).") : problem(error));
      return;
    }
    head();
    await show();
    if (message) announce(message);
    else if (before && before.version !== agent.version) announce(`${agent.name} is now at version ${agent.version}.`);
    else if (before && before.status !== agent.status) announce(`${agent.name} is now ${agent.status}.`);
  }

  api("GET", path).then((found) => {
    agent = found;
    head();
    main.append(tabs("Agent sections", SECTIONS, section, (name) => { section = name; show(); }), panel);
    show();
  }, (error) => {
    heading.textContent = "Agent not found";
    fill(notice, problem(error));
  });

  let timer = null;
  return {
    onEvent(event) {
      if (!agent || !event.data || event.data.agent_id !== id) return;
      clearTimeout(timer);
      timer = setTimeout(() => changed(), 150);
    },
    leave() { clearTimeout(timer); },
  };
}

function fields(pairs) {
  return h("dl", { class: "fields" }, pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function list(items, empty = "none") {
  return items.length ? h("ul", { class: "plain" }, items.map((i) => h("li", {}, i))) : h("span", { class: "muted" }, empty);
}

function configuration(body, agent) {
  const llm = agent.llm_config;
  const memory = agent.memory_config;
  const issues = agent.validation.issues;
  body.append(
    h("h2", {}, "Configuration"),
    h("div", { class: "card" }, fields([
      ["Description", agent.description || h("span", { class: "muted" }, "none")],
      ["Type", agent.type],
      ["Status", pill(agent.status)],
      ["Version", String(agent.version)],
      ["Template", agent.template_id ? `${agent.template_id} (version ${agent.template_version})` : undefined],
      ["Created", h("span", {}, time(agent.created_at), ` by ${agent.created_by}`)],
      ["Updated", h("span", {}, time(agent.updated_at), ` by ${agent.updated_by}`)],
    ])),
    h("h2", {}, "Model"),
    h("div", { class: "card" }, fields(Object.entries(llm).map(([k, v]) => [k.replace(/_/g, " "), Array.isArray(v) ? v.join(", ") : String(v)]))),
    h("h2", {}, "System prompt"),
    agent.system_prompt ? h("pre", { class: "prompt" }, agent.system_prompt) : h("p", { class: "muted" }, "none"),
    h("h2", {}, "Memory"),
    h("div", { class: "card" }, fields(Object.entries(memory).map(([k, v]) => [k.replace(/_/g, " "), String(v)]))),
    h("h2", {}, "Tools, collections and tags"),
    h("div", { class: "card" }, fields([
      ["Tools", list(agent.tools.map((t) => h("span", {}, h("code", {}, t.id), Object.keys(t.config).length ? [" ", value(t.config)] : "")))],
      ["Collections", list(agent.collections.map((c) => h("code", {}, c)))],
      ["Tags", list(agent.tags)],
      ["Metadata", Object.keys(agent.metadata).length ? value(agent.metadata) : h("span", { class: "muted" }, "none")],
    ])),
    h("h2", {}, "Validation"),
    h("div", { class: "card" }, h("p", {}, pill(agent.validation.status)),
      list(issues.map((i) => `${i.severity} ${i.code} at ${i.path || "/"}: ${i.message}${i.suggestion ? ` (${i.suggestion})` : ""}`), "No issues.")),
    h("details", {}, h("summary", {}, "The agent as JSON"), value(agent)));
}

async function history(body, path) {
  const table = h("tbody");
  const more = h("button", { type: "button", class: "quiet", id: "history-more", hidden: true }, "More history");
  body.append(h("h2", {}, "History"),
    h("table", {},
      h("caption", {}, "Every action on this agent, newest first"),
      h("thead", {}, h("tr", {}, ["When", "Action", "Actor", "Roles", "Request id", "Version", "Changes"].map((c) => h("th", { scope: "col", class: c === "Version" ? "num" : null }, c)))),
      table),
    h("div", { class: "pager" }, more));
  let cursor = "";
  const page = async () => {
    const result = await api("GET", `${path}/history?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    for (const entry of result.items) {
      table.append(h("tr", {},
        h("td", {}, time(entry.at)),
        h("td", {}, entry.action.replace(/_/g, " ")),
        h("td", {}, entry.actor),
        h("td", {}, entry.roles.join(", ")),
        h("td", {}, entry.request_id ? h("code", {}, entry.request_id) : "—"),
        h("td", { class: "num" }, entry.version ?? "—"),
        h("td", {}, changesOf(entry))));
    }
    cursor = result.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => page().catch((error) => body.append(problem(error))));
  await page();
}

function changesOf(entry) {
  const d = entry.details;
  const lines = [];
  if (d && entry.action === "status_changed") lines.push(`${d.from} → ${d.to}${d.reason ? ` (${d.reason})` : ""}`);
  if (d && entry.action === "alias_moved") lines.push(`${d.alias}: ${d.from ?? "none"} → ${d.to ?? "removed"}`);
  if (d && entry.action === "validated") lines.push(`validation: ${d.status}`);
  for (const op of entry.changes || []) lines.push(h("span", {}, `${op.op} `, h("code", {}, op.path), "value" in op ? ` = ${JSON.stringify(op.value)}` : ""));
  return list(lines, "—");
}

async function aliases(body, agent, path, can, changed) {
  const { items } = await api("GET", `${path}/aliases`);
  const versions = Array.from({ length: agent.version }, (_, i) => agent.version - i);
  const versionSelect = (id, selected) => h("select", { id }, versions.map((v) => h("option", { value: v, selected: v === selected }, `version ${v}`)));
  const error = h("div");
  const put = async (name, version) => {
    try {
      await api("PUT", `${path}/aliases/${encodeURIComponent(name)}`, { version });
      await changed(`Alias ${name} now points to version ${version}.`);
    } catch (failure) {
      fill(error, problem(failure));
    }
  };
  const allowed = (name) => can.write && (name !== "production" || can.admin);
  const rows = items.map((alias) => {
    const cells = [h("td", {}, h("code", {}, alias.name)), h("td", {}, `version ${alias.version}`),
      h("td", {}, time(alias.updated_at), ` by ${alias.updated_by}`)];
    if (allowed(alias.name)) {
      const select = versionSelect(`alias-${alias.name}`, alias.version);
      const remove = async () => {
        if (!window.confirm(`Remove the alias ${alias.name}?`)) return;
        try {
          await api("DELETE", `${path}/aliases/${encodeURIComponent(alias.name)}`);
          await changed(`Alias ${alias.name} removed.`);
        } catch (failure) {
          fill(error, problem(failure));
        }
      };
      cells.push(h("td", {}, h("div", { class: "actions" },
        h("label", { for: select.id, class: "visually-hidden" }, `Version for ${alias.name}`), select,
        h("button", { type: "button", onclick: () => put(alias.name, Number(select.value)) }, `Move ${alias.name}`),
        h("button", { type: "button", class: "quiet", onclick: remove }, `Remove ${alias.name}`))));
    } else {
      cells.push(h("td", { class: "muted" }, can.write ? "admin only" : "read only"));
    }
    return h("tr", {}, cells);
  });
  body.append(h("h2", {}, "Aliases"),
    items.length
      ? h("table", {}, h("caption", {}, "Named pointers to versions"),
        h("thead", {}, h("tr", {}, ["Alias", "Points to", "Updated", "Change"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No aliases yet."),
    error);
  if (!can.write) return;
  const name = h("input", { id: "promote-name", pattern: "[a-z][a-z0-9_-]{0,62}", placeholder: "staging", autocomplete: "off" });
  const target = versionSelect("promote-version", agent.version);
  const form = h("form", { class: "row card", "aria-label": "Promote a version" },
    h("label", { for: "promote-name" }, "Alias"), name,
    h("label", { for: "promote-version" }, "Version"), target,
    h("button", { type: "submit" }, "Promote"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const alias = name.value.trim();
    if (alias === "production" && !can.admin) return fill(error, h("p", { class: "error", role: "alert" }, "Only an admin may move production."));
    put(alias, Number(target.value));
  });
  body.append(h("h2", {}, "Promote a version"), form);
}

async function status(body, agent, path, can, changed) {
  const next = NEXT[agent.status] || [];
  const error = h("div");
  body.append(h("h2", {}, "Status"), h("p", {}, "Now ", pill(agent.status), `. From ${agent.status} the agent may go to ${next.join(" or ")}.`));
  const allowed = next.filter((to) => can.write && (to !== "active" || can.admin));
  if (allowed.length) {
    const reason = h("input", { id: "status-reason", autocomplete: "off" });
    body.append(h("div", { class: "row card" },
      h("label", { for: "status-reason" }, "Reason (optional)"), reason,
      allowed.map((to) => h("button", {
        type: "button",
        onclick: async () => {
          try {
            const change = { status: to };
            if (reason.value.trim()) change.reason = reason.value.trim();
            await api("POST", `${path}/status`, change, { "If-Match": `"${agent.version}"` });
            await changed(`${agent.name} is now ${to}.`);
          } catch (failure) {
            fill(error, problem(failure));
          }
        },
      }, `Set status to ${to}`))));
  } else if (next.length) {
    body.append(h("p", { class: "muted" }, can.write ? "Entering active takes the admin role." : "Your role may read only."));
  }
  if (can.admin) {
    const remove = async () => {
      if (!window.confirm(`Delete ${agent.name}? It can be restored for a while through the API.`)) return;
      try {
        await api("DELETE", path, undefined, { "If-Match": `"${agent.version}"` });
        announce(`${agent.name} deleted.`);
        location.hash = "#/agents";
      } catch (failure) {
        fill(error, problem(failure));
      }
    };
    body.append(h("h2", {}, "Delete"), h("p", {}, h("button", { type: "button", class: "danger", onclick: remove }, "Delete agent")));
  }
  body.append(error);
}
