// A service written in JavaScript on zapgate's NATS contract (docs/asyncapi.json), as a tenant's
// NATS user: it sends a message through the ingress subject and follows that message's events
// until it is read (or fails), printing one JSON line per step.
//
//   ZAPGATE_NATS_URL=nats://127.0.0.1:4222 ZAPGATE_NATS_USER=zgt_... ZAPGATE_NATS_PASSWORD=zgnats_... \
//   ZAPGATE_TENANT=<tenant id> ZAPGATE_SESSION=main ZAPGATE_TO=5511999999999 node send.mjs
import { connect, JSONCodec } from "nats";
import { randomBytes } from "node:crypto";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const tenant = env("ZAPGATE_TENANT");
const session = env("ZAPGATE_SESSION", "main");
const waitFor = env("ZAPGATE_WAIT_FOR", "read");
const timeoutMs = Number(env("ZAPGATE_TIMEOUT_MS", "60000"));
const codec = JSONCodec();

// A ULID-shaped id chosen here, so the message's events can be matched before the answer comes
// back; sending it again is the same message (zapgate deduplicates by it).
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ulid = () => {
  let time = Date.now();
  let head = "";
  for (let i = 0; i < 10; i++) { head = CROCKFORD[time % 32] + head; time = Math.floor(time / 32); }
  return head + Array.from(randomBytes(16), (b) => CROCKFORD[b % 32]).join("");
};

const nc = await connect({
  servers: env("ZAPGATE_NATS_URL").split(","),
  user: env("ZAPGATE_NATS_USER"),
  pass: env("ZAPGATE_NATS_PASSWORD"),
  inboxPrefix: `_INBOX_${tenant}`, // a tenant's user may read replies only in its own inbox
});
const print = (line) => console.log(JSON.stringify(line));

const id = ulid();
// Subscribed before sending: a live subscription sees every event from now on.
const events = nc.subscribe(`zg.evt.${tenant}.${session}.message.status`);
const request = { id, message: { type: "text", to: env("ZAPGATE_TO"), text: env("ZAPGATE_TEXT", "hello from node") } };
const reply = codec.decode((await nc.request(`zg.in.${tenant}.${session}.send`, codec.encode(request), { timeout: 10000 })).data);
if (reply.error) {
  print({ step: "refused", error: reply.error });
  await nc.close();
  process.exit(2);
}
print({ step: "accepted", ...reply.result });

const timer = setTimeout(() => { print({ step: "timeout", id }); process.exit(3); }, timeoutMs);
for await (const msg of events) {
  const event = codec.decode(msg.data);
  if (event.message_id !== id) continue;
  print({ step: "status", id, status: event.status, seq: msg.seq });
  if (event.status === waitFor || event.status === "failed") break;
}
clearTimeout(timer);
await nc.drain();
