// Schedules and campaigns (created through the API or the CLI; here they are watched and steered).
import { del, get, post } from "../api.js";
import { clear, h, status, table, when } from "../dom.js";
import { lang, t } from "../i18n.js";

const COUNTS = ["queued", "sent", "delivered", "read", "failed", "skipped", "replies"];

function progress(p) {
  const done = p.sent + p.delivered + p.read + p.failed + p.skipped;
  const pct = p.total ? Math.round((100 * done) / p.total) : 0;
  return h("div", {},
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct },
      h("span", { style: `width:${pct}%` })),
    h("span", { class: "muted" }, `${pct}% · ${t("total")} ${p.total} · `,
      COUNTS.map((k) => `${t(`count_${k}`)} ${p[k] ?? 0}`).join(" · ")));
}

export async function automationView(ctx, root) {
  const schedules = h("tbody");
  const campaigns = h("tbody");
  const button = (label, cls, fn) => h("button", { type: "button", class: cls, onclick: () => ctx.attempt(async () => { await fn(); await load(); }) }, label);

  async function load() {
    const [s, c] = await Promise.all([get("/api/v1/schedules"), get("/api/v1/campaigns")]);
    clear(schedules, s.items.map((x) => h("tr", {},
      h("td", {}, x.name || x.id), h("td", {}, x.session), h("td", {}, x.cron || (x.interval_seconds ? `${x.interval_seconds}s` : when(x.send_at, lang())), " ", h("span", { class: "muted" }, x.timezone)),
      h("td", {}, status(x.state)), h("td", {}, when(x.next_fire_at, lang())), h("td", {}, x.fired),
      h("td", {}, h("div", { class: "actions" },
        x.state === "paused"
          ? button(t("resume"), "secondary", () => post(`/api/v1/schedules/${x.id}/resume`))
          : button(t("pause"), "secondary", () => post(`/api/v1/schedules/${x.id}/pause`)),
        button(t("delete"), "danger", () => confirm(t("confirm_delete", { name: x.name || x.id })) && del(`/api/v1/schedules/${x.id}`)))))));
    clear(campaigns, c.items.map((x) => h("tr", { dataset: { campaign: x.id } },
      h("td", {}, x.name), h("td", {}, x.sessions.join(", ")), h("td", { class: "cell-state" }, status(x.state), x.reason ? h("div", { class: "muted" }, x.reason) : null),
      h("td", { class: "cell-progress" }, progress(x.progress)),
      h("td", {}, h("div", { class: "actions" },
        ["draft", "scheduled"].includes(x.state) ? button(t("start"), "secondary", () => post(`/api/v1/campaigns/${x.id}/start`)) : null,
        x.state === "running" ? button(t("pause"), "secondary", () => post(`/api/v1/campaigns/${x.id}/pause`)) : null,
        x.state === "paused" ? button(t("resume"), "secondary", () => post(`/api/v1/campaigns/${x.id}/resume`)) : null,
        ["completed", "cancelled"].includes(x.state) ? null : button(t("cancel"), "danger", () => post(`/api/v1/campaigns/${x.id}/cancel`)))))));
  }
  clear(root,
    h("h1", {}, t("automation")),
    h("p", { class: "muted" }, t("automation_help")),
    h("section", {}, h("h2", {}, t("schedules")), table([t("name"), t("session"), t("when"), t("state"), t("next_fire"), t("fired"), t("actions")], [schedules])),
    h("section", {}, h("h2", {}, t("campaigns")), table([t("name"), t("sessions"), t("state"), t("progress"), t("actions")], [campaigns])));
  await load();
  ctx.on((frame) => {
    if (frame.type !== "campaign.progress" && frame.type !== "campaign.completed") return;
    const row = campaigns.querySelector(`[data-campaign="${CSS.escape(frame.data.campaign_id)}"]`);
    if (!row) return load();
    clear(row.querySelector(".cell-state"), status(frame.data.state));
    clear(row.querySelector(".cell-progress"), progress({ total: 0, ...frame.data.counts }));
  });
}
