// A tiny element builder: h("button", {onclick}, "text"). Text is always set as text, never HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) if (child) el.append(child);
  return el;
}

export function status(value) {
  return h("span", { class: `status ${value}`, dataset: { status: value } }, value);
}

// rows: the rows, or a single <tbody> the caller keeps to fill later.
export function table(headers, rows, attrs = {}) {
  const body = rows.length === 1 && rows[0].tagName === "TBODY" ? rows[0] : h("tbody", {}, rows);
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      body));
}

export function when(iso, lang) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "medium" });
}

export function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}
