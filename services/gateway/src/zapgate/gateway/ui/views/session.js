// One session: live status, QR code and pairing code, its chats and messages, and the send form.
import { ApiError, get, post } from "../api.js";
import { clear, formData, h, status, when } from "../dom.js";
import { lang, t } from "../i18n.js";
import { actionButtons } from "./sessions.js";
import { sendForm } from "./send.js";

const enc = encodeURIComponent;
// The pairing routes take digits only (country code first); people type "+55 11 9...".
const digits = (phone) => phone.replace(/[^0-9]/g, "");

export async function sessionView(ctx, root, name) {
  const base = `/api/v1/sessions/${enc(name)}`;
  let session = await get(base);
  const head = h("div", { class: "actions" });
  const qrPanel = h("section", { id: "qr-panel", hidden: true });
  const chatList = h("ul", { id: "chats" });
  const thread = h("div", { class: "messages", id: "thread", "aria-live": "polite" });
  const threadTitle = h("h2", {}, t("messages"));
  let chat = null;

  const renderHead = () => clear(head,
    h("span", {}, t("status"), ": "), h("span", { id: "session-status" }, status(session.status)),
    session.phone ? h("span", { class: "muted" }, session.phone) : null,
    session.reason ? h("span", { class: "muted" }, session.reason) : null);

  // The QR image comes from the API (never drawn from a value here), fetched again at each rotation.
  async function showQr() {
    if (session.status !== "SCAN_QR") { qrPanel.hidden = true; return; }
    qrPanel.hidden = false;
    try {
      const { data_url: src } = await get(`${base}/qr?format=base64`);
      const img = qrPanel.querySelector("img");
      img.src = src;
      img.dataset.rotation = String(Number(img.dataset.rotation || 0) + 1);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) ctx.error(err);
    }
  }
  const pairingCode = h("p", { class: "code", id: "pairing-code" });
  clear(qrPanel,
    h("h2", {}, t("scan_title")),
    h("div", { class: "qr" },
      h("img", { id: "qr", alt: t("qr_alt", { name }) }),
      h("div", {},
        h("p", {}, t("scan_help")),
        h("form", { class: "inline", id: "pairing-form", onsubmit: (e) => {
          e.preventDefault();
          // Said before the request: the code's event can arrive before the request's answer.
          clear(pairingCode, t("waiting_code"));
          ctx.attempt(() => post(`${base}/pairing-code`, { phone: digits(formData(e.target).phone) }))
            .then((accepted) => { if (!accepted) clear(pairingCode); });
        } },
        h("label", {}, t("pair_with_phone"), h("input", { name: "phone", required: true, inputmode: "tel", autocomplete: "tel" })),
        h("button", { type: "submit" }, t("get_code"))),
        pairingCode,
        session.engine === "simulator" ? h("form", { class: "inline", id: "simulate-scan", onsubmit: (e) => {
          e.preventDefault();
          ctx.attempt(() => post(`${base}/simulator/scan`, { phone: digits(formData(e.target).phone) }));
        } },
        h("label", {}, t("simulated_phone"), h("input", { name: "phone", required: true, inputmode: "tel" })),
        h("button", { type: "submit", class: "secondary" }, t("simulate_scan"))) : null)));

  const bubble = (m) => h("div", { class: `bubble ${m.direction}`, dataset: { message: m.id } },
    h("div", {}, summary(m)),
    h("div", { class: "meta" }, h("span", {}, when(m.created_at, lang())), h("span", { class: "msg-status" }, status(m.status))));

  async function loadChats() {
    const chats = await get(`${base}/chats`);
    clear(chatList, chats.map((c) => h("li", {},
      h("button", { type: "button", class: "secondary", "data-chat": c.chat, onclick: () => openChat(c.chat) },
        c.phone || c.chat, c.unread ? ` (${c.unread})` : ""))));
    if (!chats.length) chatList.append(h("li", { class: "muted" }, t("no_chats")));
  }
  async function openChat(id) {
    chat = id;
    clear(threadTitle, t("messages"), " — ", id);
    const page = await get(`${base}/messages?chat=${enc(id)}&limit=100`);
    clear(thread, page.items.slice().reverse().map(bubble));
    thread.scrollTop = thread.scrollHeight;
    if (page.items.some((m) => m.direction === "in" && m.status !== "read")) {
      post(`${base}/chats/${enc(id)}/read`).catch(() => {});
    }
  }

  clear(root,
    h("p", {}, h("a", { href: "#/sessions" }, "← ", t("sessions"))),
    h("h1", {}, t("session"), " ", name),
    h("section", {}, head, actionButtons(ctx, name)),
    qrPanel,
    h("div", { class: "grid" },
      h("section", {}, h("h2", {}, t("chats")), chatList),
      h("section", {}, threadTitle, thread)),
    h("section", {}, h("h2", {}, t("send_message")), sendForm(ctx, base, async (accepted) => {
      const sent = await get(`/api/v1/messages/${enc(accepted.id)}`);
      if (sent.chat !== chat) await openChat(sent.chat);
      else if (!thread.querySelector(`[data-message="${CSS.escape(sent.id)}"]`)) thread.append(bubble(sent));
      await loadChats();
    })));
  renderHead();
  await showQr();
  await loadChats();

  ctx.on(async (frame) => {
    if (frame.session !== name) return;
    const d = frame.data;
    if (frame.type === "session.status") {
      session = { ...session, status: d.status, reason: d.reason, phone: d.phone ?? session.phone };
      renderHead();
      await showQr();
    } else if (frame.type === "session.qr") {
      await showQr();
    } else if (frame.type === "session.pairing_code") {
      clear(pairingCode, d.code);
    } else if (frame.type === "message.status") {
      const el = thread.querySelector(`[data-message="${CSS.escape(d.id)}"] .msg-status`);
      if (el) clear(el, status(d.status));
      else if (d.chat && d.chat === chat) await openChat(chat);
      else await loadChats();
    } else if (frame.type === "message.received") {
      if (d.chat === chat) await openChat(chat);
      await loadChats();
    }
  });
}

export function summary(m) {
  const c = m.content || {};
  switch (m.type) {
    case "text": return c.text ?? "";
    case "location": return `📍 ${c.name ?? ""} ${c.latitude}, ${c.longitude}`;
    case "contact": return `👤 ${c.contact?.name ?? c.name ?? ""} ${c.contact?.phone ?? c.phone ?? ""}`;
    case "reaction": return `${c.emoji ?? ""} → ${c.message_id ?? ""}`;
    default: return `[${m.type}] ${c.caption ?? c.filename ?? c.media?.filename ?? ""}`;
  }
}
