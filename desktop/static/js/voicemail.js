// The voicemail tab: the messages of the boxes this agent may see (its own, its
// queues'), newest first; play one (the WAV streamed by GET /api/voicemail/<id>/audio),
// mark it heard, delete it (confirmed).

import * as api from "./api.js";
import { formatTime, t } from "./i18n.js";
import { $, el } from "./dom.js";
import { on } from "./store.js";
import { confirmDialog, errorText, toastError } from "./ui.js";

export function init() {
  $("#btn-voicemail-refresh").addEventListener("click", loadVoicemail);
  $("#voicemail-heard").addEventListener("change", loadVoicemail);
  on("language", loadVoicemail);
}

function seconds(ms) {
  const s = Math.round(Number(ms || 0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export async function loadVoicemail() {
  const rows = $("#voicemail-rows");
  if ($("#panel-voicemail").hidden) return;
  try {
    const includeHeard = $("#voicemail-heard").checked;
    const reply = await api.get(`/api/voicemail${api.query({ include_heard: includeHeard })}`);
    const messages = reply.messages || [];
    rows.replaceChildren(
      ...(messages.length
        ? messages.map((m) =>
            el(
              "tr",
              { class: m.heard ? "heard" : "new", dataset: { messageId: m.message_id } },
              el("td", {}, formatTime(m.received_at)),
              el("td", {}, m.box),
              el("td", {}, m.caller),
              el("td", {}, seconds(m.duration_ms)),
              el("td", {}, t(m.heard ? "voicemail.heard" : "voicemail.new")),
              el(
                "td",
                { class: "actions" },
                el("button", { type: "button", class: "vm-play", onclick: () => play(m) }, t("voicemail.play")),
                m.heard
                  ? null
                  : el("button", { type: "button", class: "vm-heard", onclick: () => markHeard(m) }, t("voicemail.mark_heard")),
                el("button", { type: "button", class: "vm-delete danger", onclick: () => remove(m) }, t("voicemail.delete")),
              ),
            ),
          )
        : [el("tr", {}, el("td", { colspan: 6, class: "hint" }, t("voicemail.none")))]),
    );
  } catch (error) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error" }, errorText(error))));
  }
}

function play(message) {
  const player = $("#voicemail-player");
  player.src = `/api/voicemail/${encodeURIComponent(message.message_id)}/audio`;
  player.hidden = false;
  player.play().catch(() => {
    /* the browser may wait for a click on the player itself */
  });
}

async function markHeard(message) {
  try {
    await api.post(`/api/voicemail/${encodeURIComponent(message.message_id)}/heard`);
    await loadVoicemail();
  } catch (error) {
    toastError(error);
  }
}

async function remove(message) {
  const ok = await confirmDialog(t("voicemail.confirm_delete", { caller: message.caller }), t("voicemail.delete"));
  if (!ok) return;
  try {
    await api.del(`/api/voicemail/${encodeURIComponent(message.message_id)}`);
    await loadVoicemail();
  } catch (error) {
    toastError(error);
  }
}
