// The REST API and the event WebSocket, as the dashboard uses them. The key lives in
// sessionStorage: it is gone when the browser session ends, and never leaves this origin.
const KEY = "zapgate.key";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  // The API's own words (its error body), with the fields a validation error names.
  describe() {
    let text = `${this.message} (${this.status ? `HTTP ${this.status} ` : ""}${this.code})`;
    if (Array.isArray(this.details)) {
      const parts = this.details
        .filter((d) => (d.message || d.msg) !== this.message)
        .map((d) => [d.key || d.loc || d.field, d.message || d.msg].filter(Boolean).join(": "));
      if (parts.length) text += ` — ${parts.join("; ")}`;
    } else if (this.details && typeof this.details === "object") {
      const parts = Object.entries(this.details).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
      if (parts.length) text += ` — ${parts.join("; ")}`;
    }
    return text;
  }
}

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
};

export async function api(method, path, body, { raw = false } = {}) {
  const headers = { accept: "application/json" };
  if (auth.key) headers["x-api-key"] = auth.key;
  const init = { method, headers };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `the gateway did not answer: ${err.message}`);
  }
  if (!response.ok) {
    let error = { code: "http_error", message: response.statusText || "request failed" };
    try {
      const parsed = await response.json();
      if (parsed && parsed.error) error = parsed.error;
    } catch { /* a body that is not JSON: keep the status line */ }
    const retry = response.headers.get("retry-after");
    const details = error.details ?? (retry ? { retry_after_seconds: retry } : undefined);
    throw new ApiError(response.status, error.code, error.message, details);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

// The tenant's events: one WebSocket opened with a single-use ticket, resumed after a drop from
// the last sequence seen (the server replays from the stream), so nothing is missed.
export class Live {
  constructor(onState, onRefused) {
    this.handlers = new Set();
    this.onState = onState;
    this.onRefused = onRefused;
    this.seq = null;
    this.socket = null;
    this.closed = false;
    this.backoff = 500;
  }

  subscribe(handler) {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async open() {
    if (this.closed) return;
    this.onState("connecting");
    try {
      const { ticket } = await post("/api/v1/ws/tickets");
      const url = new URL("/api/v1/ws", location.href);
      url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("ticket", ticket);
      if (this.seq !== null) url.searchParams.set("since", String(this.seq));
      const socket = new WebSocket(url);
      this.socket = socket;
      socket.onopen = () => { this.backoff = 500; this.onState("live"); };
      socket.onmessage = (msg) => {
        const frame = JSON.parse(msg.data);
        if (typeof frame.seq === "number") this.seq = Math.max(this.seq ?? 0, frame.seq);
        for (const handler of this.handlers) {
          try { handler(frame); } catch (err) { console.error(err); }
        }
      };
      socket.onclose = (event) => {
        if (this.closed) return;
        this.onState("offline", event.reason);
        this.retry();
      };
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // The key was revoked (or expired): trying again cannot help.
        this.close();
        this.onRefused?.();
        return;
      }
      this.onState("offline", err instanceof ApiError ? err.describe() : String(err));
      this.retry();
    }
  }

  retry() {
    setTimeout(() => this.open(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 15000);
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}
