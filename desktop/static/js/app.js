// The desktop page: boots the language, restores a live session (GET /api/session) or
// shows the login, and wires the work screen's modules together.

import * as api from "./api.js";
import * as i18n from "./i18n.js";
import { $, $$ } from "./dom.js";
import { app, emit, on } from "./store.js";
import * as agentState from "./agentstate.js";
import * as customers from "./customers.js";
import * as history from "./history.js";
import * as keys from "./keys.js";
import * as login from "./login.js";
import * as phone from "./phone.js";
import * as recording from "./recording.js";
import * as session from "./session.js";
import * as tickets from "./tickets.js";
import * as voicemail from "./voicemail.js";

const TABS = ["customer", "tickets", "history", "voicemail", "callbacks"];

function showTab(name) {
  for (const tab of TABS) {
    const selected = tab === name;
    const button = $(`#tab-${tab}`);
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`#panel-${tab}`).hidden = !selected;
  }
  if (name === "tickets") tickets.loadTickets();
  if (name === "history") history.loadHistory();
  if (name === "voicemail") voicemail.loadVoicemail();
}

function initTabs() {
  for (const tab of TABS) $(`#tab-${tab}`).addEventListener("click", () => showTab(tab));
  $(".tabs").addEventListener("keydown", (event) => {
    const at = TABS.findIndex((tab) => $(`#tab-${tab}`) === document.activeElement);
    if (at < 0 || !["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    const next = TABS[(at + (event.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length];
    showTab(next);
    $(`#tab-${next}`).focus();
    event.preventDefault();
  });
}

async function toggleLanguage() {
  await i18n.loadLanguage(i18n.language() === "zh" ? "en" : "zh");
}

function openHelp() {
  const dialog = $("#dlg-help");
  dialog.showModal();
}

function workActions() {
  if ($("#work-screen").hidden) return { KeyL: toggleLanguage };
  const tabAction = (i) => () => {
    if (getComputedStyle($(`#tab-${TABS[i]}`)).display === "none") return;
    showTab(TABS[i]);
    $(`#tab-${TABS[i]}`).focus();
  };
  return {
    F1: openHelp,
    F2: phone.answer,
    F4: phone.hangup,
    F6: phone.toggleHold,
    F7: phone.toggleMute,
    F8: agentState.toggleBusy,
    KeyK: () => document.body.classList.contains("supervisor") || customers.focusSearch(),
    KeyS: () => {
      if ($("#customer-form").contains(document.activeElement)) customers.save();
    },
    KeyT: () => phone.openTransfer(false),
    KeyC: () => phone.openTransfer(true),
    KeyN: phone.openCall,
    KeyD: phone.toggleDialpad,
    KeyW: history.focusWrapUp,
    KeyL: toggleLanguage,
    Digit1: tabAction(0),
    Digit2: tabAction(1),
    Digit3: tabAction(2),
    Digit4: tabAction(3),
    Digit5: tabAction(4),
  };
}

async function enterWork(sess) {
  app.session = sess;
  app.logoutDeferred = false;
  app.lastCallId = null;
  session.start(sess);
  try {
    app.config = await api.get("/api/config");
  } catch {
    app.config = app.config || {};
  }
  const agent = sess.agent || {};
  $("#agent-info").textContent = i18n.t("agent.info", {
    name: agent.display || agent.username || "",
    employee: agent.employee_id ?? "",
    seat: agent.seat ?? "",
  });
  agentState.fillReasons();
  tickets.fillUnits();
  history.fillWrapUpCodes();
  history.renderWrapUp();
  // A supervisor uses the desktop as a softphone only: records and wrap-ups are agents'.
  const supervisor = agent.role === "supervisor";
  document.body.classList.toggle("supervisor", supervisor);
  $("#login-screen").hidden = true;
  $("#work-screen").hidden = false;
  agentState.render({ state: sess.state || "idle", reason: "", wrap_up_ends_at: null });
  showTab(supervisor ? "history" : "customer");
  phone.start(sess);
  emit("customer", null);
  (supervisor ? $("#tab-history") : $("#customer-search")).focus();
}

function leaveWork(message) {
  session.stop();
  phone.stop();
  app.session = null;
  app.offer = null;
  app.callId = null;
  app.customer = null;
  app.agentState = { state: "logged_out", reason: "", wrap_up_ends_at: null };
  $("#customer-record").hidden = true;
  $("#screen-pop").hidden = true;
  for (const dialog of $$("dialog[open]")) dialog.close();
  login.show(message);
}

// Logout while talking: the ACD logs the agent out when the call ends, and the web
// session lasts until then. The page keeps its softphone (stopping it would drop the
// call), heartbeat and events; the call's end, the state "logged_out" or the session's
// end (401) brings the login back.
function logoutAfterCall() {
  const onCall = ["talking", "ringing", "reserved"].includes(app.agentState.state);
  if (!onCall && !softphoneBusy()) leaveWork(i18n.t("logout.done"));
}

function softphoneBusy() {
  return phone.phoneStatus().phoneState !== "idle";
}

async function boot() {
  await i18n.loadLanguage(i18n.savedLanguage());
  i18n.onLanguageChange(() => {
    keys.renderHelp();
    emit("language", i18n.language());
  });
  for (const button of $$("[data-action=toggle-lang]")) button.addEventListener("click", toggleLanguage);
  $("#btn-help").addEventListener("click", openHelp);
  keys.renderHelp();
  keys.install(workActions);
  initTabs();
  login.init(enterWork);
  agentState.init(leaveWork, logoutAfterCall);
  on("call-ended", () => {
    if (app.logoutDeferred && app.session) leaveWork(i18n.t("logout.done"));
  });
  phone.init();
  customers.init(showTab);
  tickets.init();
  history.init();
  recording.init();
  voicemail.init();
  api.setUnauthorizedHandler(() => {
    if (app.logoutDeferred && softphoneBusy()) return; // leaves when the call ends
    if (app.session) leaveWork(i18n.t(app.logoutDeferred ? "logout.done" : "error.no_session"));
  });
  $("#boot").hidden = true;
  try {
    // A page reload: a live session comes back without asking again.
    const sess = await api.get("/api/session", { quiet401: true });
    await enterWork(sess);
  } catch {
    try {
      const config = await api.get("/api/config", { quiet401: true });
      login.offerSkills(config.skills);
    } catch {
      /* the config needs a session: the agent adds skills by name */
    }
    login.show("");
  }
}

boot();
