// Feedback shared by every screen: error texts, the toast, the confirm dialog, field errors.

import { t, tOr } from "./i18n.js";
import { $, el } from "./dom.js";

// An API error (or any failure) as the agent reads it: the code's translation.
export function errorText(error) {
  const code = error && error.code ? error.code : "unknown";
  return tOr(`error.${code}`, t("error.unknown_code", { code }));
}

let toastTimer = null;
export function toast(text, kind = "error") {
  const box = $("#toast");
  box.textContent = text;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

export function toastError(error) {
  toast(errorText(error), "error");
}

// Resolves true when the agent confirms; Esc or Cancel resolve false.
export function confirmDialog(text, okLabel) {
  const dialog = $("#dlg-confirm");
  $("#dlg-confirm-text").textContent = text;
  $("#dlg-confirm-ok").textContent = okLabel || t("common.ok");
  dialog.returnValue = "cancel";
  dialog.showModal();
  $("#dlg-confirm-ok").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// A validation error next to its field (422 with "field"), announced to screen readers.
export function setFieldError(form, field, text) {
  const input = form.elements[field];
  if (!input) return false;
  const id = `${form.id}-${field}-error`;
  let note = document.getElementById(id);
  if (!note) {
    note = el("span", { id, class: "field-error", role: "alert" });
    input.insertAdjacentElement("afterend", note);
  }
  note.textContent = text;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", id);
  input.focus();
  return true;
}

export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

export function showError(node, error) {
  node.textContent = typeof error === "string" ? error : errorText(error);
  node.hidden = false;
}
