// Recording on demand (start under a name, pause, resume, stop) and "play this message
// twice" (R-AG-8, R-AG-9), through the desktop's API to the ACD. The buttons follow the
// ACD: a call being talked on, and its recording state from the events' `state`
// (AgentView.recording) or the reply of the last command.

import * as api from "./api.js";
import { language, t } from "./i18n.js";
import { $ } from "./dom.js";
import { app, on } from "./store.js";
import { errorText, toast, toastError } from "./ui.js";

let recording = "off"; // "off", "on", "paused"

export function init() {
  $("#btn-record-start").addEventListener("click", start);
  $("#btn-record-pause").addEventListener("click", () => step("pause"));
  $("#btn-record-resume").addEventListener("click", () => step("resume"));
  $("#btn-record-stop").addEventListener("click", () => step("stop"));
  $("#btn-play-message").addEventListener("click", openPlayMessage);
  $("#play-message-form").addEventListener("submit", (event) => {
    if (event.submitter && event.submitter.value === "ok") {
      event.preventDefault();
      playMessage();
    }
  });
  on("event:state", (event) => {
    recording = event.recording || "off";
    render();
  });
  on("agent-state-changed", render);
  on("language", render);
  render();
}

export function render() {
  const talking = app.agentState.state === "talking";
  const status = $("#recording-status");
  status.textContent = t(`recording.state.${talking ? recording : "off"}`);
  status.className = `rec-status rec-${talking ? recording : "off"}`;
  $("#btn-record-start").disabled = !talking || recording !== "off";
  $("#recording-name").disabled = !talking || recording !== "off";
  $("#btn-record-pause").disabled = !talking || recording !== "on";
  $("#btn-record-resume").disabled = !talking || recording !== "paused";
  $("#btn-record-stop").disabled = !talking || recording === "off";
  $("#btn-play-message").disabled = !talking;
}

async function start() {
  const input = $("#recording-name");
  const name = input.value.trim() || t("recording.default_name", { call: app.callId || "" });
  try {
    const reply = await api.post("/api/recording/start", { name: name.slice(0, 64) });
    recording = reply.recording || "on";
    input.value = "";
    render();
  } catch (error) {
    toastError(error);
  }
}

async function step(op) {
  try {
    const reply = await api.post(`/api/recording/${op}`);
    recording = reply.recording || (op === "pause" ? "paused" : op === "stop" ? "off" : "on");
    render();
  } catch (error) {
    toastError(error);
  }
}

function openPlayMessage() {
  const form = $("#play-message-form");
  form.elements.language.value = language() === "en" ? "en" : "zh";
  $("#play-message-error").hidden = true;
  $("#dlg-play-message").showModal();
  form.elements.text.focus();
}

async function playMessage() {
  const form = $("#play-message-form");
  const text = form.elements.text.value.trim();
  const error = $("#play-message-error");
  if (!text) {
    error.textContent = t("error.required");
    error.hidden = false;
    return;
  }
  try {
    await api.post("/api/play-message", { text, language: form.elements.language.value });
    $("#dlg-play-message").close();
    form.elements.text.value = "";
    toast(t("recording.message_sent"), "info");
  } catch (failure) {
    error.textContent = errorText(failure);
    error.hidden = false;
  }
}
