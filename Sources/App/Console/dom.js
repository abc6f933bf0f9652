// Small helpers to build the page from data, never from HTML strings (no innerHTML).

/** An element with attributes (`on…` ones are listeners) and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) if (child) el.append(child instanceof Node ? child : String(child));
  return el;
}

/** A timestamp as UTC text, in a <time>. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso }, iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC"));
}

export function pill(text, kind = text) {
  return h("span", { class: `pill ${kind}` }, text);
}

/** A JSON value, readable: strings as they are, everything else as indented JSON. */
export function value(v) {
  if (v === undefined) return h("span", { class: "muted" }, "(absent)");
  return h("pre", {}, typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v, null, 2));
}

/** Tells screen readers (and the tests) what just happened. */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 30);
}

/** Shows an API error where the page can be read. */
export function problem(error) {
  const id = error.requestId ? ` (request ${error.requestId})` : "";
  return h("p", { class: "error", role: "alert" }, `${error.message}${id}`);
}

/** Tabs (WAI-ARIA pattern): arrow keys, Home and End move between them; each shows its panel. */
export function tabs(label, names, selected, onSelect) {
  const list = h("div", { role: "tablist", "aria-label": label });
  const choose = (name) => {
    buttons.forEach((button, i) => {
      button.setAttribute("aria-selected", String(names[i] === name));
      button.tabIndex = names[i] === name ? 0 : -1;
    });
    onSelect(name);
  };
  const buttons = names.map((name) =>
    h("button", { type: "button", role: "tab", id: `tab-${name.toLowerCase()}`, "aria-controls": "panel", onclick: () => choose(name) }, name));
  list.append(...buttons);
  list.addEventListener("keydown", (event) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    const next = step === undefined ? { Home: 0, End: buttons.length - 1 }[event.key] : (i + step + buttons.length) % buttons.length;
    if (next === undefined) return;
    event.preventDefault();
    buttons[next].focus();
    choose(names[next]);
  });
  buttons.forEach((button, i) => {
    button.setAttribute("aria-selected", String(names[i] === selected));
    button.tabIndex = names[i] === selected ? 0 : -1;
  });
  return list;
}
