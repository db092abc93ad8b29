// The softphone panel: registration, the incoming call with what the ACD's offer says
// (caller, category, queue, IVR path, account), answer, hang up, hold, mute, DTMF, blind
// transfer and consult through the ACD, internal calls. The SIP side is the bundle's
// HuaanSoftphone (desktop/static/softphone.js); the ACD call id pairs it with the offer.

import * as api from "./api.js";
import { label, t, tOr } from "./i18n.js";
import { $, el } from "./dom.js";
import { app, emit, on } from "./store.js";
import { errorText, showError, toast, toastError } from "./ui.js";

let phone = null;
let phoneState = "idle"; // idle, ringing, calling, talking, held
let muted = false;
let consulting = false;
let registration = "off"; // off, registering, registered, failed, missing
let registrationCause = "";
let ringTimer = null;
let endedAt = 0;
let noticeUntil = 0; // a consult's outcome stays on the status line this long

export function init() {
  $("#btn-answer").addEventListener("click", answer);
  $("#btn-hangup").addEventListener("click", hangup);
  $("#btn-hold").addEventListener("click", toggleHold);
  $("#btn-mute").addEventListener("click", toggleMute);
  $("#btn-transfer").addEventListener("click", () => openTransfer(false));
  $("#btn-consult").addEventListener("click", () => openTransfer(true));
  $("#btn-consult-complete").addEventListener("click", () => consultEnd("complete"));
  $("#btn-consult-cancel").addEventListener("click", () => consultEnd("cancel"));
  $("#btn-call").addEventListener("click", openCall);
  const pad = $("#dialpad");
  for (const digit of "123456789*0#") {
    pad.append(el("button", { type: "button", class: "key", "aria-label": `DTMF ${digit}`, onclick: () => dtmf(digit) }, digit));
  }
  pad.addEventListener("keydown", (event) => {
    if (/^[0-9*#]$/.test(event.key)) {
      event.preventDefault();
      dtmf(event.key);
    }
  });
  for (const input of $("#transfer-form").elements.kind) input.addEventListener("change", fillTargets);
  $("#dlg-transfer").addEventListener("close", submitTransfer);
  $("#dlg-call").addEventListener("close", submitCall);

  on("event:offer", offered);
  on("event:cancel_ring", (event) => released(event, "phone.ring_cancelled"));
  on("event:release", (event) => released(event, "phone.released"));
  on("agent-state-changed", deskPhoneCall);
  on("language", render);
}

// ---------------------------------------------------------------- softphone life

export function start(session) {
  stop();
  const Lib = window.HuaanSoftphone;
  if (!Lib) {
    registration = "missing";
    render();
    return;
  }
  if (!session.sip || !session.sip.wss_url || !session.sip.ha1) {
    // No WSS listener configured (sip.wss_listen), or no credential for this account.
    registration = "no_wss";
    render();
    return;
  }
  try {
    phone = new Lib.Softphone({
      wssUrl: session.sip.wss_url,
      uri: session.sip.uri,
      realm: session.sip.realm,
      ha1: session.sip.ha1,
      displayName: session.agent.display || session.agent.username,
      audioElement: $("#remote-audio"),
    });
  } catch (exc) {
    // No WSS configured (sip.wss_listen) or no credential: the desk works without a phone.
    phone = null;
    setRegistration("failed", String(exc.message || exc));
    return;
  }
  phone.on("registered", () => setRegistration("registered"));
  phone.on("unregistered", () => setRegistration("off"));
  phone.on("registrationFailed", (info) => setRegistration("failed", (info && info.cause) || ""));
  // The bundle's own call state (idle, ringing, calling, talking, held) is the truth.
  phone.on("state", (state) => {
    phoneState = state;
    render();
  });
  phone.on("incoming", (call) => {
    phoneState = "ringing";
    // The INVITE's X-Huaan-Call-Id names the ACD call; the offer event usually came first.
    if (call && call.huaanCallId) app.callId = call.huaanCallId;
    if (!app.offer || (call.huaanCallId && app.offer.call_id !== call.huaanCallId)) {
      showIncoming({ call_id: call.huaanCallId, caller: call.from, category: "", queue: "", ivr_path: [], account: "" });
    }
    render();
  });
  phone.on("accepted", () => {
    phoneState = "talking";
    if (app.offer) app.callId = app.offer.call_id;
    hideIncoming(false);
    render();
  });
  phone.on("hold", () => {
    phoneState = "held";
    render();
  });
  phone.on("unhold", () => {
    phoneState = "talking";
    render();
  });
  phone.on("muted", () => {
    muted = true;
    render();
  });
  phone.on("unmuted", () => {
    muted = false;
    render();
  });
  phone.on("ended", (info) => callEnded(info && info.cause));
  phone.on("failed", (info) => callEnded(info && info.cause));
  setRegistration("registering");
  try {
    phone.start();
  } catch (exc) {
    setRegistration("failed", String(exc));
  }
}

export function stop() {
  if (phone) {
    try {
      phone.stop();
    } catch {
      /* already stopped */
    }
  }
  phone = null;
  phoneState = "idle";
  muted = false;
  consulting = false;
  registration = "off";
  hideIncoming(true);
  render();
}

function setRegistration(state, cause = "") {
  registration = state;
  registrationCause = cause || "";
  render();
}

function callEnded(cause) {
  const callId = app.callId || (app.offer && app.offer.call_id);
  phoneState = "idle";
  muted = false;
  consulting = false;
  hideIncoming(true);
  if (callId) app.lastCallId = callId; // an internal call has no ACD id: nothing to wrap up
  app.callId = null;
  endedAt = Date.now();
  $("#call-status").textContent = cause ? t("phone.ended_cause", { cause: tOr(`cause.${cause}`, cause) }) : t("phone.ended");
  render();
  emit("call-ended", { callId, cause });
}

// ---------------------------------------------------------------- the ACD's offer

function offered(event) {
  app.offer = event;
  app.callId = event.call_id;
  showIncoming(event);
  emit("offer", event);
  render();
}

function showIncoming(offer) {
  $("#offer-caller").textContent = offer.caller || t("common.unknown");
  $("#offer-category").textContent = offer.category ? tOr(`category.${offer.category}`, offer.category) : "—";
  $("#offer-queue").textContent = offer.queue || "—";
  const path = Array.isArray(offer.ivr_path) ? offer.ivr_path : String(offer.ivr_path || "").split(">").filter(Boolean);
  $("#offer-ivr").textContent = path.length ? path.join(" › ") : "—";
  $("#offer-account").textContent = offer.account || "—";
  $("#incoming").hidden = false;
  clearInterval(ringTimer);
  const deadline = Date.now() + (offer.ring_timeout_s || 0) * 1000;
  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    $("#offer-countdown").textContent = offer.ring_timeout_s ? t("phone.ring_left", { s: left }) : "";
  };
  tick();
  if (offer.ring_timeout_s) ringTimer = setInterval(tick, 1000);
}

function hideIncoming(forget) {
  $("#incoming").hidden = true;
  clearInterval(ringTimer);
  if (forget) app.offer = null;
}

// An agent may take the call on a desk SIP phone with the page open beside it: the
// ACD's states tell the page then, since its softphone never rang.
function deskPhoneCall(change) {
  if (phoneState === "idle") {
    if (change.state === "talking" && app.callId) {
      hideIncoming(false);
      $("#call-status").textContent = t("phone.talking_desk");
    } else if (change.previous === "talking" && app.callId) {
      callEnded("");
      return;
    }
  }
  render();
}

function released(event, key) {
  const matches = !event.call_id || !app.offer || app.offer.call_id === event.call_id || app.callId === event.call_id;
  if (!matches) return;
  if (phoneState === "talking" || phoneState === "held") return; // the SIP side ends the call
  if (app.agentState.state === "talking" && app.callId) {
    callEnded(event.reason || ""); // a desk phone's call
    return;
  }
  hideIncoming(true);
  if (phoneState === "ringing") phoneState = "idle";
  app.callId = null;
  $("#call-status").textContent = t(key, { reason: tOr(`cause.${event.reason}`, event.reason || "") });
  render();
}

// ---------------------------------------------------------------- actions

// The bundle throws on an action in the wrong state (a race with the far end): say so.
function act(action) {
  try {
    action();
  } catch (exc) {
    toast(String((exc && exc.message) || exc));
  }
}

export function answer() {
  if (phone && phoneState === "ringing") act(() => phone.answer());
}

export function hangup() {
  if (phone && phoneState !== "idle") act(() => phone.hangup());
}

export function toggleHold() {
  if (!phone) return;
  if (phoneState === "talking") act(() => phone.hold());
  else if (phoneState === "held") act(() => phone.unhold());
}

export function toggleMute() {
  if (!phone || !inCall()) return;
  act(() => (muted ? phone.unmute() : phone.mute()));
}

function inCall() {
  return phoneState === "talking" || phoneState === "held" || phoneState === "calling";
}

function dtmf(digit) {
  if (phone && (phoneState === "talking" || phoneState === "held")) act(() => phone.sendDtmf(digit));
}

export function toggleDialpad() {
  const box = $("#dialpad-box");
  box.open = !box.open;
  if (box.open) $("#dialpad .key").focus();
}

// Blind transfer (agent or queue) and consult (agent) share one dialog.
let transferMode = "transfer";

export async function openTransfer(consult) {
  if (!app.callId || !(["talking", "held"].includes(phoneState) || app.agentState.state === "talking")) return;
  transferMode = consult ? "consult" : "transfer";
  $("#dlg-transfer-title").textContent = t(consult ? "phone.consult" : "phone.transfer");
  const form = $("#transfer-form");
  form.elements.kind.value = "agent";
  $("#transfer-kind").hidden = consult;
  $("#transfer-error").hidden = true;
  await loadDirectory();
  fillTargets();
  const dialog = $("#dlg-transfer");
  dialog.returnValue = "cancel";
  dialog.showModal();
  $("#transfer-target").focus();
}

export async function loadDirectory() {
  try {
    app.directory = await api.get("/api/directory");
  } catch (error) {
    toastError(error);
  }
}

function agentOptions(select) {
  const me = app.session && app.session.agent.username;
  select.replaceChildren(
    ...(app.directory.agents || [])
      .filter((agent) => agent.username !== me)
      .map((agent) =>
        el(
          "option",
          { value: agent.username },
          `${agent.display || agent.username} (${agent.username}) · ${tOr(`state.${agent.state}`, agent.state || "")}`,
        ),
      ),
  );
}

function fillTargets() {
  const form = $("#transfer-form");
  const select = $("#transfer-target");
  if (form.elements.kind.value === "queue") {
    select.replaceChildren(...(app.directory.queues || []).map((queue) => el("option", { value: queue.name }, label(queue.display || queue.name))));
  } else {
    agentOptions(select);
  }
}

async function submitTransfer() {
  const dialog = $("#dlg-transfer");
  if (dialog.returnValue !== "ok") return;
  const form = $("#transfer-form");
  const target = form.elements.target.value;
  if (!target || !app.callId) return;
  try {
    if (transferMode === "consult") {
      await api.post("/api/consult", { call_id: app.callId, to_agent: target });
      consulting = true;
      $("#call-status").textContent = t("phone.consulting", { target });
    } else {
      const body = { call_id: app.callId };
      body[form.elements.kind.value === "queue" ? "to_queue" : "to_agent"] = target;
      await api.post("/api/transfer", body);
      $("#call-status").textContent = t("phone.transferred", { target });
    }
  } catch (error) {
    toast(errorText(error));
  }
  render();
}

async function consultEnd(how) {
  if (!app.callId) return;
  try {
    await api.post(`/api/consult/${how}`, { call_id: app.callId });
    consulting = false;
    // Shown for a few seconds: the talking status would replace it at the next render.
    noticeUntil = Date.now() + 5000;
    $("#call-status").textContent = t(how === "complete" ? "phone.consult_completed" : "phone.consult_cancelled");
  } catch (error) {
    toastError(error);
  }
  render();
}

export async function openCall() {
  if (!phone || phoneState !== "idle") return;
  await loadDirectory();
  agentOptions($("#call-agent"));
  const dialog = $("#dlg-call");
  $("#call-form").elements.number.value = "";
  dialog.returnValue = "cancel";
  dialog.showModal();
  $("#call-agent").focus();
}

function submitCall() {
  const dialog = $("#dlg-call");
  if (dialog.returnValue !== "ok" || !phone) return;
  const form = $("#call-form");
  const number = form.elements.number.value.trim();
  const target = /^[0-9*#+]{1,32}$/.test(number) ? number : form.elements.agent.value;
  if (!target) return;
  phoneState = "calling";
  $("#call-status").textContent = t("phone.calling", { target });
  try {
    phone.call(target);
  } catch (exc) {
    phoneState = "idle";
    showError($("#call-status"), String(exc));
  }
  render();
}

// ---------------------------------------------------------------- rendering

export function render() {
  const reg = $("#reg-status");
  reg.className = `reg reg-${registration}`;
  reg.textContent =
    registration === "failed"
      ? t("phone.reg_failed", { cause: tOr(`cause.${registrationCause}`, registrationCause) })
      : t(`phone.reg_${registration}`);
  const acd = app.agentState.state;
  const ringing = phoneState === "ringing";
  const talking = phoneState === "talking" || phoneState === "held";
  $("#btn-answer").disabled = !ringing;
  $("#btn-hangup").disabled = phoneState === "idle";
  $("#btn-hold").disabled = !talking;
  $("#btn-mute").disabled = !inCall();
  const acdCall = Boolean(app.callId) && (talking || acd === "talking");
  $("#btn-transfer").disabled = !acdCall || consulting;
  $("#btn-consult").disabled = !acdCall || consulting;
  $("#btn-consult-complete").hidden = !consulting;
  $("#btn-consult-cancel").hidden = !consulting;
  $("#btn-call").disabled = !phone || !registrationOk() || phoneState !== "idle" || (acd === "reserved" || acd === "ringing");
  setLabel($("#btn-hold"), phoneState === "held" ? "phone.unhold" : "phone.hold");
  setLabel($("#btn-mute"), muted ? "phone.unmute" : "phone.mute");
  $("#btn-hold").setAttribute("aria-pressed", String(phoneState === "held"));
  $("#btn-mute").setAttribute("aria-pressed", String(muted));
  if (phoneState !== "idle" || Date.now() - endedAt > 15_000) {
    const status = {
      ringing: "phone.ringing",
      calling: null,
      talking: consulting ? null : "phone.talking",
      held: "phone.held",
      idle: null,
    }[phoneState];
    if (status && Date.now() >= noticeUntil) $("#call-status").textContent = t(status);
  }
}

function registrationOk() {
  return registration === "registered";
}

// A button's text is its label plus its <kbd> hint: change only the text node.
function setLabel(button, key) {
  button.dataset.i18n = key;
  const hint = button.querySelector("kbd");
  button.firstChild.textContent = t(key);
  if (hint && button.firstChild === hint) button.prepend(t(key));
}

export function phoneStatus() {
  return { phoneState, registration, muted, consulting };
}
