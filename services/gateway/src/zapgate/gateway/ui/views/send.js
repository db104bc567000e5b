// The send form: every message type the API takes, media from a file or a URL.
import { post } from "../api.js";
import { clear, formData, h } from "../dom.js";
import { t } from "../i18n.js";

const MEDIA = ["image", "video", "audio", "voice", "document"];
const TYPES = ["text", ...MEDIA, "location", "contact", "reaction"];

const field = (label, attrs) => h("label", {}, label, h(attrs.rows ? "textarea" : "input", attrs));

function fieldsFor(type) {
  if (type === "text") return [field(t("text"), { name: "text", required: true, rows: 3 })];
  if (MEDIA.includes(type)) {
    return [
      field(t("file"), { name: "file", type: "file" }),
      field(t("or_url"), { name: "url", type: "url", placeholder: "https://" }),
      type === "audio" || type === "voice" ? null : field(t("caption"), { name: "caption" }),
    ];
  }
  if (type === "location") {
    return [
      field(t("latitude"), { name: "latitude", type: "number", step: "any", required: true }),
      field(t("longitude"), { name: "longitude", type: "number", step: "any", required: true }),
      field(t("place_name"), { name: "place" }),
    ];
  }
  if (type === "contact") {
    return [field(t("contact_name"), { name: "contact_name", required: true }),
      field(t("contact_phone"), { name: "contact_phone", required: true, inputmode: "tel" })];
  }
  return [field(t("message_id"), { name: "message_id", required: true }),
    field(t("emoji"), { name: "emoji", required: true, maxlength: 16 })];
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function bodyOf(form, type) {
  const d = formData(form);
  const body = { to: d.to, type };
  if (type === "text") body.text = d.text;
  else if (MEDIA.includes(type)) {
    const file = form.querySelector("input[type=file]").files[0];
    if (file) body.media = { data: await readFile(file), mimetype: file.type || "application/octet-stream", filename: file.name };
    else body.media = { url: d.url || null, mimetype: guessType(type) };
    if (d.caption) body.caption = d.caption;
  } else if (type === "location") {
    Object.assign(body, { latitude: Number(d.latitude), longitude: Number(d.longitude) });
    if (d.place) body.name = d.place;
  } else if (type === "contact") body.contact = { name: d.contact_name, phone: d.contact_phone };
  else Object.assign(body, { message_id: d.message_id, emoji: d.emoji });
  return body;
}

function guessType(type) {
  return { image: "image/jpeg", video: "video/mp4", audio: "audio/mpeg", voice: "audio/ogg", document: "application/pdf" }[type];
}

export function sendForm(ctx, base, onSent) {
  const extra = h("div", { class: "inline" });
  const select = h("select", { name: "type", id: "send-type", onchange: () => clear(extra, fieldsFor(select.value)) },
    TYPES.map((type) => h("option", { value: type }, t(`type_${type}`))));
  const form = h("form", { id: "send-form", class: "inline", onsubmit: (e) => {
    e.preventDefault();
    ctx.attempt(async () => {
      const accepted = await post(`${base}/messages`, await bodyOf(form, select.value));
      ctx.info(t("message_accepted", { id: accepted.id }));
      const keep = form.elements.to.value;
      form.reset();
      form.elements.to.value = keep;
      clear(extra, fieldsFor(select.value));
      await onSent(accepted);
    });
  } },
  h("label", {}, t("to"), h("input", { name: "to", required: true, inputmode: "tel", placeholder: "5511912345678" })),
  h("label", {}, t("type"), select),
  extra,
  h("button", { type: "submit" }, t("send")));
  clear(extra, fieldsFor("text"));
  return form;
}
