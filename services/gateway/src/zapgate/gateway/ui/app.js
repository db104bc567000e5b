// The dashboard: log in with an API key, then a tenant's or the operator's views, routed by hash.
import { ApiError, Live, auth, get } from "./api.js";
import { clear, formData, h } from "./dom.js";
import { setLang, t, translateStatic } from "./i18n.js";
import { adminRoutes, tenantRoutes } from "./routes.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const liveState = document.getElementById("live");
const toasts = document.getElementById("toasts");
let role = null;
let live = null;
let page = null;

function toast(text, { kind = "error", sticky = false, id } = {}) {
  const close = h("button", { type: "button", class: "secondary", "aria-label": t("dismiss") }, "×");
  const el = h("div", { class: `toast ${kind}`, dataset: { kind }, id }, h("span", { class: "toast-text" }, text), close);
  close.addEventListener("click", () => el.remove());
  toasts.append(el);
  if (!sticky) setTimeout(() => el.remove(), kind === "error" ? 12000 : 5000);
}

function describe(err) {
  return err instanceof ApiError ? err.describe() : `${t("unexpected")}: ${err?.message ?? err}`;
}

// What a view gets: error and info reporting, event subscriptions and timers ended when it is left.
function context() {
  const undo = [];
  const ctx = {
    error: (err) => toast(describe(err)),
    info: (text, opts) => toast(text, { kind: "info", ...opts }),
    attempt: async (fn) => { try { return await fn(); } catch (err) { ctx.error(err); return undefined; } },
    on: (handler) => { if (live) undo.push(live.subscribe(handler)); },
    every: (ms, fn) => { const id = setInterval(() => fn().catch(ctx.error), ms); undo.push(() => clearInterval(id)); },
    leave: () => undo.splice(0).forEach((f) => f()),
  };
  return ctx;
}

async function route() {
  page?.leave();
  if (!role) return;
  const routes = role === "admin" ? adminRoutes : tenantRoutes;
  const [, first = "", ...rest] = (location.hash || "").replace(/^#/, "").split("/");
  const found = routes.find((r) => r.path === first) || routes[0];
  for (const a of nav.querySelectorAll("a")) a.toggleAttribute("aria-current", a.dataset.path === found.path);
  if (found.path) nav.querySelector(`[data-path="${found.path}"]`)?.setAttribute("aria-current", "page");
  page = context();
  // Each visit renders into its own container: a view still loading when the person moves on
  // finishes into a detached one instead of over the next view.
  const root = h("div", {}, h("p", { class: "muted" }, t("loading")));
  clear(main, root);
  try {
    await found.view(page, root, ...rest.map(decodeURIComponent));
  } catch (err) {
    clear(root, h("h1", {}, t("error")), h("p", { class: "error-text", id: "view-error" }, describe(err)));
  }
  main.focus({ preventScroll: true });
}

function renderNav() {
  const routes = role === "admin" ? adminRoutes : tenantRoutes;
  clear(nav, routes.map((r) => h("a", { href: `#/${r.path}`, dataset: { path: r.path } }, t(r.label))));
  document.getElementById("logout").hidden = !role;
}

// A tenant's key answers /me; the admin key is refused there (403) and answers /tenants.
async function whoAmI() {
  try {
    const me = await get("/api/v1/me");
    return { role: "tenant", name: me.name };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    await get("/api/v1/tenants?limit=1");
    return { role: "admin", name: t("operator") };
  }
}

async function login(key) {
  auth.key = key;
  try {
    const who = await whoAmI();
    role = who.role;
  } catch (err) {
    auth.key = null;
    role = null;
    throw err;
  }
  renderNav();
  if (role === "tenant") {
    live = new Live((state, reason) => {
      liveState.textContent = t(`live_${state}`) + (reason ? ` (${reason})` : "");
      liveState.dataset.state = state;
    }, () => logout(t("key_refused")));
    live.open();
  } else {
    liveState.textContent = "";
  }
  await route();
}

function logout(message) {
  page?.leave();
  live?.close();
  live = null;
  auth.key = null;
  role = null;
  liveState.textContent = "";
  renderNav();
  loginView(typeof message === "string" ? message : undefined);
}

function loginView(message) {
  const error = h("p", { class: "error-text", id: "login-error", role: "alert" }, message || "");
  const form = h("form", { id: "login", onsubmit: async (e) => {
    e.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await login(formData(form).key.trim());
    } catch (err) {
      clear(error, describe(err));
    } finally {
      button.disabled = false;
    }
  } },
  h("label", {}, t("api_key"), h("input", { name: "key", type: "password", required: true, autocomplete: "off", autofocus: true })),
  h("p", { class: "muted" }, t("key_help")),
  h("button", { type: "submit" }, t("login")), error);
  clear(main, h("div", { class: "login card" }, h("h1", {}, t("login_title")), form));
}

function applyLanguage(value) {
  setLang(value);
  document.documentElement.lang = value;
  document.getElementById("lang").value = value;
  translateStatic(document);
  renderNav();
  if (role) route(); else loginView();
}

document.getElementById("lang").addEventListener("change", (e) => applyLanguage(e.target.value));
document.getElementById("logout").addEventListener("click", logout);
window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (e) => toast(describe(e.reason)));

applyLanguage(localStorage.getItem("zapgate.lang") || (navigator.language?.startsWith("pt") ? "pt-BR" : "en"));
if (auth.key) login(auth.key).catch((err) => loginView(describe(err)));
