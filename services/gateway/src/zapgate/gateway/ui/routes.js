// Which views each kind of key sees, under which hash.
import { clusterView, plansView, tenantsView } from "./views/admin.js";
import { automationView } from "./views/automation.js";
import { billingView } from "./views/billing.js";
import { sessionView } from "./views/session.js";
import { sessionsView } from "./views/sessions.js";

export const tenantRoutes = [
  { path: "sessions", label: "sessions", view: (ctx, root, name) => (name ? sessionView(ctx, root, name) : sessionsView(ctx, root)) },
  { path: "automation", label: "automation", view: automationView },
  { path: "billing", label: "billing", view: billingView },
];

export const adminRoutes = [
  { path: "tenants", label: "tenants", view: tenantsView },
  { path: "plans", label: "plans", view: plansView },
  { path: "cluster", label: "cluster", view: clusterView },
];
