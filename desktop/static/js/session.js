// The session's life in the page: the heartbeat that keeps the ACD lease and the web
// session alive (every lease_seconds / 3), and the events WebSocket, reopened with
// backoff after a network loss. While either is down the page says "reconnecting";
// when both are back it re-reads the session so that nothing missed stays stale.

import * as api from "./api.js";
import { t } from "./i18n.js";
import { $ } from "./dom.js";
import { app, emit } from "./store.js";

let heartbeatTimer = null;
let socket = null;
let reconnectTimer = null;
let backoffMs = 500;
let running = false;
let socketUp = false;
let httpUp = true;
const MAX_BACKOFF_MS = 10_000;

function showConnection() {
  const banner = $("#connection");
  const ok = !running || (socketUp && httpUp);
  banner.hidden = ok;
  if (!ok) banner.textContent = t("conn.reconnecting");
}

api.setNetworkHandler((ok) => {
  const wasDown = !httpUp;
  httpUp = ok;
  showConnection();
  if (ok && wasDown && running) resync();
});

// The browser knows first when the network goes and comes back: say so at once, and
// when it is back, reconnect now rather than at the next backoff step or heartbeat.
window.addEventListener("offline", () => {
  httpUp = false;
  showConnection();
});
window.addEventListener("online", () => {
  if (!running) return;
  clearTimeout(reconnectTimer);
  backoffMs = 500;
  if (!socket) openSocket();
  resync();
});

export function start(session) {
  stop();
  running = true;
  httpUp = true;
  api.setCsrfToken(session.csrf_token);
  scheduleHeartbeat(session.lease_seconds);
  openSocket();
}

export function stop() {
  running = false;
  clearTimeout(heartbeatTimer);
  clearTimeout(reconnectTimer);
  heartbeatTimer = null;
  if (socket) {
    socket.onclose = null;
    socket.close();
    socket = null;
  }
  socketUp = false;
  showConnection();
}

function scheduleHeartbeat(leaseSeconds) {
  const period = Math.max(1000, ((leaseSeconds || 30) * 1000) / 3);
  clearTimeout(heartbeatTimer);
  heartbeatTimer = setTimeout(beat, period);
}

async function beat() {
  if (!running) return;
  let lease = app.session ? app.session.lease_seconds : 30;
  try {
    const reply = await api.post("/api/heartbeat");
    lease = reply.lease_seconds || lease;
    if (reply.state && reply.state !== app.agentState.state) {
      emit("agent-state", { ...app.agentState, state: reply.state });
    }
  } catch (error) {
    if (error.status === 401) return; // api.js has sent the agent to the login
    // A lost beat: try again sooner, the lease has room for two more.
    lease = Math.max(3, lease / 2);
  }
  if (running) scheduleHeartbeat(lease);
}

function openSocket() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/api/events`);
  socket.onopen = () => {
    const resumed = backoffMs > 500;
    socketUp = true;
    backoffMs = 500;
    showConnection();
    if (resumed) resync();
  };
  socket.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event && typeof event.type === "string") emit(`event:${event.type}`, event);
  };
  socket.onclose = (closed) => {
    socketUp = false;
    socket = null;
    showConnection();
    if (!running) return;
    // 4401: the session has ended; re-reading it answers 401, which shows the login.
    if (closed.code === 4401) {
      resync();
      return;
    }
    const delay = backoffMs + Math.random() * 250;
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    reconnectTimer = setTimeout(openSocket, delay);
  };
}

// After a loss: the session may have ended meanwhile (401 → login), or the state moved on.
async function resync() {
  try {
    const session = await api.get("/api/session");
    app.session = session;
    api.setCsrfToken(session.csrf_token);
    emit("agent-state", { ...app.agentState, state: session.state });
  } catch {
    /* 401 is handled by api.js; a network error keeps the banner up */
  }
}
