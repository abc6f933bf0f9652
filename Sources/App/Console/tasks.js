// #/tasks: the tenant's recent tasks with type, status, progress, attempts and error, live.

import { api, withQuery } from "./api.js";
import { h, fill, time, pill, problem } from "./dom.js";
import { choice } from "./agents.js";

const STATUSES = ["pending", "processing", "completed", "failed"];

export function tasksView(main) {
  document.title = "Tasks · Agent console";
  const state = { status: "", cursors: [""] };
  const [label, status] = choice("task-status", "Status", ["", ...STATUSES], "");
  const content = h("div", { id: "tasks" });
  fill(main, h("h1", {}, "Tasks"), h("p", { class: "filters" }, label, status), content);
  status.addEventListener("change", () => { Object.assign(state, { status: status.value, cursors: [""] }); load(); });

  async function load() {
    let page;
    try {
      page = await api("GET", withQuery("/v1/tasks", { status: state.status, limit: 25, cursor: state.cursors[state.cursors.length - 1] }));
    } catch (error) {
      return fill(content, problem(error));
    }
    const rows = page.items.map((task) =>
      h("tr", { class: task.status === "failed" ? "fail" : "" },
        h("td", {}, h("code", {}, task.task_id.slice(0, 8)), h("br"), time(task.created_at)),
        h("td", {}, task.type),
        h("td", {}, pill(task.status)),
        h("td", {}, h("progress", { max: "100", value: task.progress, "aria-label": `Progress of task ${task.task_id.slice(0, 8)}` }), ` ${task.progress}%`),
        h("td", { class: "num" }, task.max_attempts ? `${task.attempts} of ${task.max_attempts}` : task.attempts),
        h("td", {}, task.error ? `${task.error.error_type || "error"}: ${task.error.message || ""}` : "—"),
        h("td", {}, time(task.updated_at))));
    const previous = h("button", { type: "button", class: "quiet", disabled: state.cursors.length === 1 }, "Previous page");
    const next = h("button", { type: "button", class: "quiet", disabled: !page.next_cursor }, "Next page");
    previous.addEventListener("click", () => { state.cursors.pop(); load(); });
    next.addEventListener("click", () => { state.cursors.push(page.next_cursor); load(); });
    fill(content,
      page.items.length
        ? h("table", {},
          h("caption", {}, "Newest first"),
          h("thead", {}, h("tr", {}, ["Task", "Type", "Status", "Progress", "Attempts", "Error", "Updated"].map((c) => h("th", { scope: "col", class: c === "Attempts" ? "num" : null }, c)))),
          h("tbody", {}, rows))
        : h("p", { class: "card" }, "No tasks."),
      h("div", { class: "pager" }, previous, next));
  }
  load();
  let timer = null;
  return {
    onEvent(event) {
      if (!/^(task_|validation_complete)/.test(String(event.event))) return;
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    },
    leave() { clearTimeout(timer); },
  };
}
