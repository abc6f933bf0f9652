// #/webhooks: the tenant's endpoints with their status and lag, and each one's delivery attempts
// (status code, attempt, time), failures marked.

import { api } from "./api.js";
import { h, fill, time, pill, problem } from "./dom.js";

/** How far behind an endpoint is, as its attempts tell: the event it is still retrying, since when. */
export function lag(hook, deliveries) {
  if (hook.status === "disabled") return h("span", {}, pill("stopped", "bad"), ` disabled (${hook.disabled_reason || "unknown"})`);
  const last = deliveries[0];
  if (!last) return h("span", { class: "muted" }, "no deliveries yet");
  if (last.succeeded) return h("span", {}, pill("up to date", "ok"), " last attempt delivered");
  const attempts = deliveries.filter((d) => d.event_id === last.event_id);
  const first = attempts[attempts.length - 1];
  return h("span", {}, pill("behind", "bad"), ` retrying event ${last.sequence} (attempt ${last.attempt}) since `, time(first.attempted_at));
}

export function webhooksView(main) {
  document.title = "Webhooks · Agent console";
  const content = h("div", { id: "webhooks" });
  const refresh = h("button", { type: "button", class: "quiet" }, "Refresh");
  fill(main, h("h1", {}, "Webhooks"), h("p", { class: "row" }, refresh), content);

  async function load() {
    try {
      const [{ items }, ready] = await Promise.all([
        api("GET", "/v1/webhooks?limit=50"),
        fetch("/health/ready").then((r) => r.json()).catch(() => null),
      ]);
      const deliveries = await Promise.all(items.map((hook) => api("GET", `/v1/webhooks/${hook.id}/deliveries?limit=25`)));
      const sinkLag = ready?.components?.notifier?.sinks?.webhooks?.lag;
      fill(content,
        Number.isInteger(sinkLag) ? h("p", { class: "muted" }, `The service's webhook sender is ${sinkLag} event(s) behind, counted at the endpoint furthest behind (every tenant).`) : null,
        items.length ? items.map((hook, i) => endpoint(hook, deliveries[i].items)) : h("p", { class: "card" }, "No webhook endpoints."));
    } catch (error) {
      fill(content, problem(error));
    }
  }
  refresh.addEventListener("click", load);
  load();
  let timer = null;
  return {
    // Every event is a delivery to come: look again a moment later, once per burst.
    onEvent() {
      clearTimeout(timer);
      timer = setTimeout(load, 2000);
    },
    leave() { clearTimeout(timer); },
  };
}

function endpoint(hook, deliveries) {
  const failed = deliveries.filter((d) => !d.succeeded).length;
  const rows = deliveries.map((d) =>
    h("tr", { class: d.succeeded ? "" : "fail" },
      h("td", {}, time(d.attempted_at)),
      h("td", {}, d.event),
      h("td", { class: "num" }, d.sequence),
      h("td", { class: "num" }, d.attempt),
      h("td", { class: "num" }, d.status_code ?? "none"),
      h("td", { class: "num" }, `${Math.round(d.latency_ms)} ms`),
      h("td", {}, d.succeeded ? pill("delivered", "ok") : [pill("failed"), d.error ? ` ${d.error}` : ""])));
  return h("section", { class: "card", "aria-labelledby": `hook-${hook.id}` },
    h("h2", { id: `hook-${hook.id}` }, hook.url),
    h("dl", { class: "fields" },
      h("dt", {}, "Status"), h("dd", {}, pill(hook.status), hook.disabled_reason ? ` (${hook.disabled_reason})` : ""),
      h("dt", {}, "Lag"), h("dd", {}, lag(hook, deliveries)),
      h("dt", {}, "Events"), h("dd", {}, hook.events.includes("*") ? "all (*)" : hook.events.join(", ")),
      h("dt", {}, "Failures in a row"), h("dd", {}, String(hook.consecutive_failures)),
      hook.description ? [h("dt", {}, "Description"), h("dd", {}, hook.description)] : null),
    h("h3", {}, `Delivery attempts (${failed} failed of the last ${deliveries.length})`),
    deliveries.length
      ? h("table", {},
        h("caption", {}, `Attempts to ${hook.url}, newest first`),
        h("thead", {}, h("tr", {}, ["Time", "Event", "Sequence", "Attempt", "Status code", "Latency", "Result"].map((c, i) => h("th", { scope: "col", class: i >= 2 && i <= 5 ? "num" : null }, c)))),
        h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No attempts yet."));
}
