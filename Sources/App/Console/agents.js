// #/agents: the tenant's agents, searched (`q`), filtered by status and type, paged by cursor.

import { api, withQuery } from "./api.js";
import { h, fill, time, pill, problem } from "./dom.js";

export const STATUSES = ["draft", "active", "inactive", "archived"];
export const TYPES = ["conversational", "rag", "search", "workflow", "custom"];
const PAGE = 20;
// Kept while the user moves between sections, so the list comes back as it was left.
const state = { q: "", status: "", type: "", cursors: [""] };

/** A labelled select of `values` ("" reads as `any`). */
export function choice(id, label, values, selected, anyText = "any") {
  const select = h("select", { id, name: id },
    values.map((v) => h("option", { value: v, selected: v === selected }, v || anyText)));
  return [h("label", { for: id }, label), select];
}

export function agentsView(main, tenant) {
  document.title = "Agents · Agent console";
  const search = h("input", { type: "search", id: "q", name: "q", value: state.q, autocomplete: "off" });
  const [statusLabel, status] = choice("status", "Status", ["", ...STATUSES], state.status);
  const [typeLabel, type] = choice("type", "Type", ["", ...TYPES], state.type);
  const form = h("form", { class: "filters", role: "search", "aria-label": "Agents" },
    h("span", {}, h("label", { for: "q" }, "Search"), search),
    h("span", {}, statusLabel, status),
    h("span", {}, typeLabel, type),
    h("button", { type: "submit" }, "Apply filters"));
  const results = h("div", { id: "agents" });
  fill(main, h("h1", {}, "Agents"), form, results);

  const apply = (event) => {
    if (event) event.preventDefault();
    Object.assign(state, { q: search.value.trim(), status: status.value, type: type.value, cursors: [""] });
    load();
  };
  form.addEventListener("submit", apply);
  status.addEventListener("change", apply);
  type.addEventListener("change", apply);

  let loading = null;
  async function load() {
    const cursor = state.cursors[state.cursors.length - 1];
    const request = (loading = api("GET", withQuery("/v1/agents", { q: state.q, status: state.status, type: state.type, limit: PAGE, cursor })));
    let page;
    try {
      page = await request;
    } catch (error) {
      if (request === loading) fill(results, problem(error));
      return;
    }
    if (request !== loading) return;
    const number = state.cursors.length;
    const rows = page.items.map((agent) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#/agents/${agent.id}` }, agent.name)),
        h("td", {}, agent.type),
        h("td", {}, pill(agent.status)),
        h("td", { class: "num" }, agent.version),
        h("td", {}, pill(agent.validation.status)),
        h("td", {}, time(agent.updated_at))));
    const table = h("table", {},
      h("caption", {}, `Agents of tenant ${tenant.tenant_id}, page ${number}`),
      h("thead", {}, h("tr", {}, ["Name", "Type", "Status", "Version", "Validation", "Updated at"].map((c) => h("th", { scope: "col", class: c === "Version" ? "num" : null }, c)))),
      h("tbody", {}, rows));
    const previous = h("button", { type: "button", class: "quiet", disabled: number === 1 }, "Previous page");
    const next = h("button", { type: "button", class: "quiet", disabled: !page.next_cursor }, "Next page");
    previous.addEventListener("click", () => { state.cursors.pop(); load(); });
    next.addEventListener("click", () => { state.cursors.push(page.next_cursor); load(); });
    fill(results,
      page.items.length ? table : h("p", { class: "card", role: "status" }, "No agents match."),
      h("div", { class: "pager" }, previous, next));
  }
  load();

  let timer = null;
  return {
    // Any agent event may change what this page shows: read it again, once per burst.
    onEvent(event) {
      if (!String(event.event).startsWith("agent_")) return;
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    },
    leave() { clearTimeout(timer); },
  };
}
