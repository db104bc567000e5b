// The operator's views: tenants and their keys, plans, and the cluster.
import { del, get, post } from "../api.js";
import { clear, formData, h, status, table, when } from "../dom.js";
import { lang, t } from "../i18n.js";
import { money } from "./billing.js";

const enc = encodeURIComponent;

function secretOnce(ctx, label, value) {
  ctx.info(`${label}: ${value}`, { sticky: true, id: "new-secret" });
}

export async function tenantsView(ctx, root) {
  const body = h("tbody");
  const keys = h("section", { id: "keys", hidden: true });
  async function showKeys(tenant) {
    const list = await get(`/api/v1/tenants/${enc(tenant.id)}/api-keys`);
    keys.hidden = false;
    clear(keys, h("h2", {}, t("api_keys"), " — ", tenant.name),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => ctx.attempt(async () => {
        const made = await post(`/api/v1/tenants/${enc(tenant.id)}/api-keys`);
        secretOnce(ctx, t("new_key_shown_once"), made.api_key);
        await showKeys(tenant);
      }) }, t("new_key"))),
      table([t("prefix"), t("created"), t("actions")], list.map((k) => h("tr", {},
        h("td", {}, h("code", {}, k.prefix)), h("td", {}, when(k.created_at, lang())),
        h("td", {}, h("button", { type: "button", class: "danger", onclick: () => ctx.attempt(async () => {
          if (!confirm(t("confirm_revoke", { name: k.prefix }))) return;
          await del(`/api/v1/tenants/${enc(tenant.id)}/api-keys/${enc(k.id)}`);
          await showKeys(tenant);
        }) }, t("revoke")))))));
  }
  async function load() {
    const page = await get("/api/v1/tenants?limit=200");
    const items = Array.isArray(page) ? page : page.items;
    clear(body, items.map((x) => h("tr", { dataset: { tenant: x.id } },
      h("td", {}, x.name), h("td", {}, h("code", {}, x.id)), h("td", {}, status(x.status)), h("td", {}, when(x.created_at, lang())),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => ctx.attempt(() => showKeys(x)) }, t("api_keys"))))));
  }
  const form = h("form", { class: "inline", id: "tenant-form", onsubmit: (e) => {
    e.preventDefault();
    ctx.attempt(async () => {
      const made = await post("/api/v1/tenants", { name: formData(e.target).name });
      secretOnce(ctx, t("tenant_key_shown_once", { name: made.name }), made.api_key);
      e.target.reset();
      await load();
    });
  } }, h("label", {}, t("tenant_name"), h("input", { name: "name", required: true })), h("button", { type: "submit" }, t("create")));
  clear(root, h("h1", {}, t("tenants")), h("section", {}, form),
    h("section", {}, table([t("name"), "id", t("status"), t("created"), t("actions")], [body], { id: "tenants" })), keys);
  await load();
}

export async function plansView(ctx, root) {
  const body = h("tbody");
  const limit = (v) => (v === "" || v === undefined ? null : Number(v));
  async function load() {
    const page = await get("/api/v1/plans");
    clear(body, page.items.map((p) => h("tr", {},
      h("td", {}, p.name, p.is_default ? ` (${t("default")})` : ""), h("td", {}, money(p.price_cents)),
      h("td", {}, p.sessions_limit ?? t("unlimited")), h("td", {}, p.messages_limit ?? t("unlimited")), h("td", {}, p.trial_days),
      h("td", {}, h("button", { type: "button", class: "danger", onclick: () => ctx.attempt(async () => {
        if (!confirm(t("confirm_delete", { name: p.name }))) return;
        await del(`/api/v1/plans/${enc(p.id)}`);
        await load();
      }) }, t("delete"))))));
  }
  const form = h("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    ctx.attempt(async () => {
      const d = formData(e.target);
      await post("/api/v1/plans", {
        name: d.name, price_cents: Math.round(Number(d.price) * 100), sessions_limit: limit(d.sessions),
        messages_limit: limit(d.messages), trial_days: Number(d.trial || 0), is_default: d.is_default === "on",
      });
      e.target.reset();
      await load();
    });
  } },
  h("label", {}, t("name"), h("input", { name: "name", required: true })),
  h("label", {}, t("price_brl"), h("input", { name: "price", type: "number", min: 0, step: "0.01", required: true })),
  h("label", {}, t("sessions_limit"), h("input", { name: "sessions", type: "number", min: 0, placeholder: t("unlimited") })),
  h("label", {}, t("messages_limit"), h("input", { name: "messages", type: "number", min: 0, placeholder: t("unlimited") })),
  h("label", {}, t("trial_days"), h("input", { name: "trial", type: "number", min: 0, value: 7 })),
  h("label", {}, t("default"), h("input", { name: "is_default", type: "checkbox" })),
  h("button", { type: "submit" }, t("create")));
  clear(root, h("h1", {}, t("plans")), h("section", {}, form),
    h("section", {}, table([t("name"), t("price"), t("sessions_limit"), t("messages_limit"), t("trial_days"), t("actions")], [body])));
  await load();
}

// Polled: the cluster is read from the lease buckets, not from the tenant event stream.
export async function clusterView(ctx, root) {
  const out = h("div", { id: "cluster" });
  async function load() {
    const c = await get("/api/v1/cluster");
    const statuses = (s) => Object.entries(s).map(([k, v]) => `${k} ${v}`).join(" · ");
    clear(out,
      h("section", {}, h("p", {}, `${t("partitions")}: ${c.partitions} · ${t("sessions")}: ${c.sessions} · ${statuses(c.statuses)}`),
        c.unheld.length ? h("p", { class: "error-text" }, t("unheld"), ": ", c.unheld.join(", ")) : h("p", { class: "muted" }, t("all_held"))),
      h("section", {}, table([t("worker"), t("live"), t("partitions"), t("sessions"), t("status")],
        c.workers.map((w) => h("tr", { dataset: { worker: w.id } },
          h("td", {}, h("code", {}, w.id)), h("td", {}, w.live ? t("yes") : t("no")),
          h("td", {}, w.partitions.join(", ")), h("td", {}, w.sessions), h("td", {}, statuses(w.statuses)))))));
  }
  clear(root, h("h1", {}, t("cluster")), out);
  await load();
  ctx.every(3000, load);
}
