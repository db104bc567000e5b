// The tenant's sessions: live status, create, lifecycle actions.
import { del, get, post } from "../api.js";
import { clear, formData, h, status, table, when } from "../dom.js";
import { t, lang } from "../i18n.js";

export const ACTIONS = ["start", "stop", "restart", "logout"];
const label = (action) => t(action === "logout" ? "logout_session" : action);

export function actionButtons(ctx, name, after) {
  const run = (action) => ctx.attempt(async () => {
    await post(`/api/v1/sessions/${encodeURIComponent(name)}/${action}`);
    ctx.info(t("accepted", { action: label(action), name }));
    after?.();
  });
  return h("div", { class: "actions" },
    ACTIONS.map((action) => h("button", { type: "button", class: action === "logout" ? "danger" : "secondary",
      "data-action": action, onclick: () => run(action) }, label(action))),
    h("button", { type: "button", class: "danger", "data-action": "delete", onclick: () => ctx.attempt(async () => {
      if (!confirm(t("confirm_delete", { name }))) return;
      await del(`/api/v1/sessions/${encodeURIComponent(name)}`);
      ctx.info(t("deleted", { name }));
      location.hash = "#/sessions";
      after?.();
    }) }, t("delete")));
}

export async function sessionsView(ctx, root) {
  const body = h("tbody");
  const rows = new Map();
  const render = (s) => {
    const row = h("tr", { dataset: { session: s.name } },
      h("td", {}, h("a", { href: `#/sessions/${encodeURIComponent(s.name)}` }, s.name)),
      h("td", { class: "cell-status" }, status(s.status)),
      h("td", {}, s.phone || ""),
      h("td", { class: "muted" }, s.engine),
      h("td", { class: "muted" }, s.worker || ""),
      h("td", { class: "muted" }, when(s.updated_at, lang())),
      h("td", {}, actionButtons(ctx, s.name, load)));
    const old = rows.get(s.name);
    old ? old.replaceWith(row) : body.append(row);
    rows.set(s.name, row);
  };
  async function load() {
    const page = await get("/api/v1/sessions?limit=200");
    const items = Array.isArray(page) ? page : page.items;
    clear(body);
    rows.clear();
    items.forEach(render);
    empty.hidden = items.length > 0;
  }
  const empty = h("p", { class: "muted" }, t("no_sessions"));
  const form = h("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    ctx.attempt(async () => {
      const data = formData(e.target);
      await post("/api/v1/sessions", { name: data.name, engine: data.engine });
      e.target.reset();
      await load();
    });
  } },
  h("label", {}, t("session_name"), h("input", { name: "name", required: true, autocomplete: "off" })),
  h("label", {}, t("engine"), h("select", { name: "engine" },
    h("option", { value: "simulator" }, t("engine_simulator")), h("option", { value: "whatsapp" }, "WhatsApp"))),
  h("button", { type: "submit" }, t("create")));
  clear(root,
    h("h1", {}, t("sessions")),
    h("section", {}, h("h2", {}, t("new_session")), form),
    h("section", {}, empty, table([t("name"), t("status"), t("phone"), t("engine"), t("worker"), t("updated"), t("actions")], [body], { id: "sessions" })));
  await load();
  // Status changes arrive over the WebSocket; a session this page has not seen is fetched.
  ctx.on(async (frame) => {
    if (frame.type !== "session.status") return;
    if (!rows.has(frame.session)) return load();
    const cell = rows.get(frame.session).querySelector(".cell-status");
    clear(cell, status(frame.data.status));
  });
}
