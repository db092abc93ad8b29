// The desktop's JSON API (docs/desktop.md): every request goes through here, so that the
// CSRF header is on every non-GET and a 401 anywhere sends the agent back to the login.

export class ApiError extends Error {
  constructor(status, error, body) {
    super(error.message || error.code || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 0 ? "network" : "unknown");
    this.field = error.field || null;
    this.body = body || {};
    // 409 version_conflict carries the record as stored now.
    this.current = error.current || (body && body.current) || null;
  }
}

let csrfToken = null;
let onUnauthorized = () => {};
let onNetwork = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

// fn(): called on 401 no_session (the session ended: log in again).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// fn(ok): a request failed to reach the server (false) or got through again (true).
export function setNetworkHandler(fn) {
  onNetwork = fn;
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  let reply;
  try {
    reply = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (exc) {
    onNetwork(false);
    throw new ApiError(0, { code: "network", message: String(exc) });
  }
  onNetwork(true);
  if (reply.status === 204) return {};
  let data = {};
  const text = await reply.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
  }
  if (reply.ok) return data;
  const error = (data && data.error) || { code: reply.status === 429 ? "rate_limited" : "unknown" };
  const failure = new ApiError(reply.status, error, data);
  if (reply.status === 401 && failure.code !== "bad_credentials" && !quiet401) onUnauthorized();
  throw failure;
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body = {}, opts) => request("POST", path, body, opts);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

export function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "" || v === false) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v === true ? "1" : v)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}
