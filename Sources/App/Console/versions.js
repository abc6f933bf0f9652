// The Versions section: every version newest first, the diff between any two (From, To) as the
// changed JSON Pointer paths with old and new values side by side, and rollback.

import { api } from "./api.js";
import { h, fill, time, value, problem } from "./dom.js";

/** The value at a JSON Pointer (RFC 6901) in `document`; undefined when there is none. */
export function at(document, pointer) {
  let current = document;
  for (const raw of pointer.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (current === null || typeof current !== "object" || !Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

export async function versionsPanel(body, agent, { can, selection, path, changed }) {
  const { items } = await api("GET", `${path}/versions?limit=200`);
  const numbers = items.map((v) => v.version);
  const newest = numbers[0];
  // A "To" left on the newest version follows the newest as versions are added.
  if (!numbers.includes(selection.to) || selection.to === selection.newest) selection.to = newest;
  if (!numbers.includes(selection.from)) selection.from = numbers[1] ?? newest;
  selection.newest = newest;

  const picker = (id, label, selected) => {
    const select = h("select", { id }, numbers.map((n) => h("option", { value: n, selected: n === selected }, `version ${n}`)));
    return [h("label", { for: id }, label), select];
  };
  const [fromLabel, from] = picker("diff-from", "From", selection.from);
  const [toLabel, to] = picker("diff-to", "To", selection.to);
  const diff = h("div", { id: "diff", "aria-live": "polite" });
  const error = h("div");

  async function showDiff() {
    selection.from = Number(from.value);
    selection.to = Number(to.value);
    const a = selection.from;
    const b = selection.to;
    if (a === b) return fill(diff, h("p", { class: "muted" }, "The same version: nothing changed."));
    try {
      const [result, old] = await Promise.all([
        api("GET", `${path}/diff?from=${a}&to=${b}`),
        api("GET", `${path}/versions/${a}`),
      ]);
      if (Number(from.value) !== a || Number(to.value) !== b) return;
      const rows = result.changes.map((op) =>
        h("tr", {},
          h("td", { class: "path" }, h("code", {}, op.path), h("span", { class: "op" }, op.op)),
          h("td", { class: "old" }, op.op === "add" ? h("span", { class: "muted" }, "(absent)") : value(at(old, op.path))),
          h("td", { class: "new" }, op.op === "remove" ? h("span", { class: "muted" }, "(absent)") : value(op.value))));
      fill(diff, rows.length
        ? h("table", { class: "diff" },
          h("caption", {}, `${rows.length} changed ${rows.length === 1 ? "path" : "paths"} from version ${a} to version ${b}`),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, `Version ${a}`), h("th", { scope: "col" }, `Version ${b}`))),
          h("tbody", {}, rows))
        : h("p", { class: "muted" }, `No configuration change between version ${a} and version ${b}.`));
    } catch (failure) {
      fill(diff, problem(failure));
    }
  }
  from.addEventListener("change", showDiff);
  to.addEventListener("change", showDiff);

  async function rollback(version) {
    if (!window.confirm(`Roll back to version ${version}? This makes a new version with the configuration of version ${version}.`)) return;
    try {
      const made = await api("POST", `${path}/rollback`, { version }, { "If-Match": `"${agent.version}"` });
      await changed(`Rolled back to version ${version}: the agent is now at version ${made.version}.`);
    } catch (failure) {
      fill(error, problem(failure));
    }
  }

  const rows = items.map((v) => {
    const action = v.version === agent.version
      ? h("span", { class: "muted" }, "current")
      : h("button", { type: "button", class: "quiet", onclick: () => rollback(v.version) }, `Roll back to version ${v.version}`);
    const paths = v.changes.map((op) => op.path);
    return h("tr", {},
      h("td", {}, `version ${v.version}`),
      h("td", {}, time(v.created_at)),
      h("td", {}, v.created_by),
      h("td", {}, paths.length ? h("code", {}, paths.slice(0, 4).join(", ") + (paths.length > 4 ? ` and ${paths.length - 4} more` : "")) : "—"),
      can.write ? h("td", {}, action) : null);
  });
  body.append(
    h("h2", {}, "Compare versions"),
    h("div", { class: "diffpick card" }, h("span", {}, fromLabel, from), h("span", {}, toLabel, to)),
    diff,
    h("h2", {}, "Versions"),
    error,
    h("table", {},
      h("caption", {}, "Newest first"),
      h("thead", {}, h("tr", {}, ["Version", "Made at", "By", "Changed paths", ...(can.write ? ["Roll back"] : [])].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
  await showDiff();
}
