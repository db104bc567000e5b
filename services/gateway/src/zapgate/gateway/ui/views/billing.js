// The tenant's plan, usage against its limits, and paying by PIX.
import { get, post } from "../api.js";
import { clear, h, status, table, when } from "../dom.js";
import { lang, t } from "../i18n.js";

export const money = (cents, currency = "BRL") =>
  (cents / 100).toLocaleString(lang(), { style: "currency", currency });

function usage(label, used, limit) {
  const pct = limit ? Math.min(100, Math.round((100 * used) / limit)) : 0;
  return h("div", {},
    h("div", {}, label, ": ", String(used ?? 0), " / ", limit ?? t("unlimited")),
    limit ? h("div", { class: "bar", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
      h("span", { style: `width:${pct}%` })) : null);
}

export async function billingView(ctx, root) {
  const summary = h("section", { id: "billing" });
  const pix = h("section", { id: "pix", hidden: true });
  const charges = h("tbody");

  async function load() {
    const [b, list] = await Promise.all([get("/api/v1/billing"), get("/api/v1/billing/charges")]);
    clear(summary,
      h("h2", {}, t("plan"), ": ", b.plan.name, " ", status(b.status)),
      h("p", {}, money(b.plan.price_cents), " / ", t("month"), " · ", t("period"), " ", when(b.period_start, lang()), " – ", when(b.period_end, lang())),
      usage(t("sessions"), b.usage.sessions, b.usage.sessions_limit),
      usage(t("messages_sent"), b.usage.messages, b.usage.messages_limit),
      h("div", { class: "actions" }, h("button", { type: "button", id: "checkout", onclick: () => ctx.attempt(checkout) }, t("pay_pix"))));
    clear(charges, list.items.map((c) => h("tr", {},
      h("td", {}, when(c.created_at, lang())), h("td", {}, money(c.amount_cents, c.currency)), h("td", {}, status(c.status)),
      h("td", {}, when(c.expires_at, lang())), h("td", {}, when(c.paid_at, lang())))));
  }
  async function checkout() {
    const { charge } = await post("/api/v1/billing/checkout", {});
    pix.hidden = false;
    const copy = h("textarea", { readonly: true, rows: 3, id: "pix-code", "aria-label": t("pix_code") }, charge.qr_code || "");
    clear(pix,
      h("h2", {}, t("pay_pix"), " — ", money(charge.amount_cents, charge.currency)),
      h("div", { class: "qr" },
        charge.qr_png_base64 ? h("img", { id: "pix-qr", src: `data:image/png;base64,${charge.qr_png_base64}`, alt: t("pix_qr_alt") }) : null,
        h("div", {},
          h("p", {}, t("pix_help"), " ", t("expires"), " ", when(charge.expires_at, lang())),
          copy,
          h("div", { class: "actions" },
            h("button", { type: "button", class: "secondary", onclick: () => navigator.clipboard?.writeText(copy.value).then(() => ctx.info(t("copied"))) }, t("copy")),
            charge.ticket_url ? h("a", { href: charge.ticket_url, target: "_blank", rel: "noopener" }, t("open_receipt")) : null))));
    await load();
  }
  clear(root, h("h1", {}, t("billing")), summary, pix,
    h("section", {}, h("h2", {}, t("charges")), table([t("created"), t("amount"), t("status"), t("expires"), t("paid")], [charges])));
  await load();
  ctx.on((frame) => { if (frame.type === "billing.alert") load().catch(ctx.error); });
}
