// The agent's call history (GET /api/history) and the wrap-up of the last call.

import * as api from "./api.js";
import { formatTime, label, t, tOr } from "./i18n.js";
import { $, el } from "./dom.js";
import { app, on } from "./store.js";
import { errorText } from "./ui.js";

export function init() {
  $("#btn-history-refresh").addEventListener("click", loadHistory);
  $("#wrapup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveWrapUp();
  });
  on("call-ended", () => {
    renderWrapUp();
    loadHistory();
  });
  on("language", () => {
    fillWrapUpCodes();
    renderWrapUp();
  });
}

const first = (row, keys) => {
  for (const key of keys) if (row[key] !== undefined && row[key] !== null && row[key] !== "") return row[key];
  return "";
};

function duration(seconds) {
  if (seconds === "" || Number.isNaN(Number(seconds))) return "";
  const s = Math.round(Number(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export async function loadHistory() {
  const rows = $("#history-rows");
  try {
    const reply = await api.get(`/api/history${api.query({ limit: 50 })}`);
    const calls = reply.calls || [];
    rows.replaceChildren(
      ...(calls.length
        ? calls.map((call) => {
            const category = first(call, ["category"]);
            const outcome = first(call, ["disposition", "outcome"]);
            // A CDR (analytics' Cdr): disposition, talk_s; a wrap-up code when the row has one.
            const wrap = call.wrap_up && typeof call.wrap_up === "object" ? call.wrap_up.code : first(call, ["wrap_up_code", "wrap_up"]);
            return el(
              "tr",
              {},
              el("td", {}, formatTime(first(call, ["arrived_at", "started_at", "answered_at", "at"]))),
              el("td", {}, category ? tOr(`category.${category}`, category) : ""),
              el("td", {}, first(call, ["caller", "peer", "from", "callee"])),
              el("td", {}, first(call, ["queue"])),
              el("td", {}, duration(first(call, ["talk_s", "duration_s"]))),
              el("td", {}, outcome ? tOr(`history.outcome.${outcome}`, outcome) : ""),
              el("td", {}, wrap ? wrapLabel(wrap) : ""),
            );
          })
        : [el("tr", {}, el("td", { colspan: 7, class: "hint" }, t("history.none")))]),
    );
  } catch (error) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "error" }, errorText(error))));
  }
}

function wrapLabel(code) {
  const entry = ((app.config && app.config.wrap_up_codes) || []).find((w) => w.code === code);
  return entry ? label(entry) : code;
}

export function fillWrapUpCodes() {
  const select = $("#wrapup-code");
  const chosen = select.value;
  select.replaceChildren(
    ...((app.config && app.config.wrap_up_codes) || []).map((w) => el("option", { value: w.code }, label(w))),
  );
  if (chosen) select.value = chosen;
}

export function renderWrapUp() {
  const callId = app.lastCallId;
  $("#wrapup-call").textContent = callId ? t("wrapup.for_call", { id: callId }) : t("wrapup.no_call");
  $("#wrapup-form").querySelector("button[type=submit]").disabled = !callId;
}

export function focusWrapUp() {
  $("#wrapup-code").focus();
}

async function saveWrapUp() {
  const form = $("#wrapup-form");
  const msg = $("#wrapup-msg");
  if (!app.lastCallId) return;
  try {
    await api.post("/api/wrapup", { call_id: app.lastCallId, code: form.elements.code.value, note: form.elements.note.value.trim() });
    msg.className = "msg";
    msg.textContent = t("wrapup.saved");
    form.elements.note.value = "";
  } catch (error) {
    msg.className = "msg error";
    msg.textContent = errorText(error);
  }
}
