// The state bar: the agent's ACD state (idle, busy with a reason, wrap-up with its
// countdown, ringing, talking), the busy/idle switch and the logout.

import * as api from "./api.js";
import { label, t, tOr } from "./i18n.js";
import { $, el } from "./dom.js";
import { app, emit, on } from "./store.js";
import { confirmDialog, toastError } from "./ui.js";

let countdownTimer = null;
let onLoggedOut = () => {};
let onDeferred = () => {};

// loggedOut(message): the session is over; deferred(): logout waits for the call's end.
export function init(loggedOut, deferred) {
  onLoggedOut = loggedOut;
  onDeferred = deferred;
  $("#btn-busy").addEventListener("click", () => goBusy());
  $("#btn-idle").addEventListener("click", () => goIdle());
  $("#btn-logout").addEventListener("click", () => logout());
  on("agent-state", (next) => render(next));
  on("event:state", (event) => {
    // After a reload the page learns the call it is on from the state sent on connecting.
    if (event.call_id && ["talking", "ringing", "reserved"].includes(event.state) && !app.callId) {
      app.callId = event.call_id;
    }
    render({ state: event.state, reason: event.reason || "", wrap_up_ends_at: event.wrap_up_ends_at || null });
  });
  on("language", () => {
    fillReasons();
    render(app.agentState);
  });
}

export function fillReasons() {
  const select = $("#busy-reason");
  const chosen = select.value;
  select.replaceChildren(
    ...((app.config && app.config.busy_reasons) || []).map((reason) => {
      const code = typeof reason === "string" ? reason : reason.code;
      return el("option", { value: code }, reasonLabel(reason));
    }),
  );
  if (chosen) select.value = chosen;
}

function reasonLabel(reason) {
  if (reason && typeof reason === "object") return label(reason);
  return tOr(`reason.${String(reason).toLowerCase()}`, String(reason));
}

function endsAtMs(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return value < 1e12 ? value * 1000 : value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function render(next) {
  const previous = app.agentState.state;
  app.agentState = { ...app.agentState, ...next };
  const { state, reason } = app.agentState;
  const badge = $("#state-badge");
  badge.textContent = t(`state.${state}`) === `state.${state}` ? state : t(`state.${state}`);
  badge.className = `badge state-${state}`;
  clearInterval(countdownTimer);
  const detail = $("#state-detail");
  detail.textContent = "";
  if (state === "busy" && reason) detail.textContent = reasonLabel(reason);
  if (state === "wrap_up") {
    const ends = endsAtMs(app.agentState.wrap_up_ends_at);
    const tick = () => {
      if (ends === null) return;
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      detail.textContent = t("state.wrap_up_left", { s: left });
    };
    tick();
    if (ends !== null) countdownTimer = setInterval(tick, 1000);
  }
  if (app.logoutDeferred) detail.textContent = `${detail.textContent} ${t("logout.deferred")}`.trim();
  const onHook = ["idle", "busy", "wrap_up"].includes(state);
  $("#btn-idle").disabled = !(state === "busy" || state === "wrap_up");
  $("#btn-busy").disabled = !onHook;
  $("#busy-reason").disabled = !onHook;
  if (state !== previous) emit("agent-state-changed", { ...app.agentState, previous });
  if (state === "logged_out" && previous !== "logged_out" && app.session) {
    onLoggedOut(t(app.logoutDeferred ? "logout.done" : "logout.ended_elsewhere"));
  }
}

export async function goBusy() {
  try {
    const reply = await api.post("/api/state", { state: "busy", reason: $("#busy-reason").value });
    render({ state: reply.state || "busy", reason: $("#busy-reason").value, wrap_up_ends_at: null });
  } catch (error) {
    toastError(error);
  }
}

export async function goIdle() {
  try {
    const reply = await api.post("/api/state", { state: "idle" });
    render({ state: reply.state || "idle", reason: "", wrap_up_ends_at: null });
  } catch (error) {
    toastError(error);
  }
}

// F8: idle → busy (with the chosen reason); busy or wrap-up → idle.
export function toggleBusy() {
  const { state } = app.agentState;
  if (state === "idle") goBusy();
  else if (state === "busy" || state === "wrap_up") goIdle();
}

export async function logout() {
  const talking = ["talking", "reserved", "ringing"].includes(app.agentState.state);
  const ok = await confirmDialog(t(talking ? "logout.confirm_in_call" : "logout.confirm"), t("logout.button"));
  if (!ok) return;
  try {
    const reply = await api.post("/api/logout");
    if (reply.deferred) {
      app.logoutDeferred = true;
      render(app.agentState);
      onDeferred();
      return;
    }
    onLoggedOut(t("logout.done"));
  } catch (error) {
    if (error.status !== 401) toastError(error);
  }
}
