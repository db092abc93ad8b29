// The keyboard: one table of shortcuts, shown in the help dialog (F1) and the footer,
// and one keydown handler. Letters are matched on event.code so that Alt+T is Alt+T
// on every keyboard layout and with a Chinese input method.

import { t } from "./i18n.js";
import { $, el } from "./dom.js";

// [keys, i18n key of what it does, code to match (F-keys by key), needs ctrl, needs alt]
export const SHORTCUTS = [
  ["F1", "help.title", "F1"],
  ["F2", "phone.answer", "F2"],
  ["F4", "phone.hangup", "F4"],
  ["F6", "keys.hold", "F6"],
  ["F7", "keys.mute", "F7"],
  ["F8", "keys.busy_idle", "F8"],
  ["Ctrl+K", "customer.search", "KeyK", "ctrl"],
  ["Ctrl+S", "customer.save", "KeyS", "ctrl"],
  ["Alt+T", "phone.transfer", "KeyT", "alt"],
  ["Alt+C", "phone.consult", "KeyC", "alt"],
  ["Alt+N", "phone.internal_call", "KeyN", "alt"],
  ["Alt+D", "phone.dialpad", "KeyD", "alt"],
  ["Alt+W", "wrapup.title", "KeyW", "alt"],
  ["Alt+1…5", "keys.tabs", null],
  ["Alt+L", "lang.switch", "KeyL", "alt"],
  ["Esc", "keys.escape", null],
];

// actions: {"F2": fn, "KeyK": fn, "Digit1": fn, ...}; login-only screens pass fewer.
export function install(actionsFor) {
  document.addEventListener("keydown", (event) => {
    if (document.querySelector("dialog[open]")) return; // the dialog owns the keyboard (Esc closes it)
    const actions = actionsFor();
    let name = null;
    if (/^F\d+$/.test(event.key) && !event.ctrlKey && !event.altKey) name = event.key;
    else if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.code === "KeyK" || event.code === "KeyS")) name = event.code;
    else if (event.altKey && !event.ctrlKey && !event.metaKey) name = event.code;
    if (!name || !actions[name]) return;
    event.preventDefault();
    actions[name]();
  });
}

export function renderHelp() {
  $("#help-rows").replaceChildren(
    ...SHORTCUTS.map(([keys, what]) => el("tr", {}, el("th", {}, el("kbd", {}, keys)), el("td", {}, t(what)))),
  );
  $("#shortcuts-bar").replaceChildren(
    ...SHORTCUTS.filter(([, , code]) => code && code !== "KeyS").map(([keys, what]) =>
      el("span", {}, el("kbd", {}, keys), " ", t(what)),
    ),
  );
}
