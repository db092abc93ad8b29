// The page's two languages: one JSON dictionary per language (i18n/zh.json, i18n/en.json,
// the same keys in both: tests/desktop/test_page_dictionaries.py checks it). Every visible
// string goes through t(); static markup names its key in data-i18n* attributes.

const STORAGE_KEY = "huaan.desktop.lang";
export const LANGUAGES = ["zh", "en"];
const HTML_LANG = { zh: "zh-CN", en: "en" };

let current = "zh";
let dictionary = {};
const listeners = [];

export function language() {
  return current;
}

export async function loadLanguage(lang) {
  const wanted = LANGUAGES.includes(lang) ? lang : "zh";
  const url = new URL(`../i18n/${wanted}.json`, import.meta.url);
  const reply = await fetch(url, { credentials: "same-origin" });
  if (!reply.ok) throw new Error(`dictionary ${wanted}: HTTP ${reply.status}`);
  dictionary = await reply.json();
  current = wanted;
  try {
    localStorage.setItem(STORAGE_KEY, wanted);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.lang = HTML_LANG[wanted];
  document.title = t("app.title");
  applyTranslations(document);
  for (const fn of listeners) fn(wanted);
}

// The remembered choice; the demo's default is Chinese.
export function savedLanguage() {
  try {
    return localStorage.getItem(STORAGE_KEY) || "zh";
  } catch {
    return "zh";
  }
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(dictionary, key);
}

// t("state.wrap_up_left", {s: 12}) fills {s}; a missing key shows itself, so it is noticed.
export function t(key, params) {
  let text = has(key) ? dictionary[key] : key;
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
    );
  }
  return text;
}

// A translation when the dictionary has one (an error code, a busy reason), else the raw value.
export function tOr(key, fallback) {
  return has(key) ? dictionary[key] : fallback;
}

// A config vocabulary entry ({code, zh, en}) in the current language.
export function label(entry) {
  if (entry == null) return "";
  if (typeof entry === "string") return entry;
  return entry[current] || entry.en || entry.zh || entry.code || "";
}

export function applyTranslations(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
    if (el.dataset.key) {
      const hint = document.createElement("kbd");
      hint.textContent = el.dataset.key;
      el.append(" ", hint);
      el.setAttribute("aria-keyshortcuts", el.dataset.key.replace("Ctrl", "Control"));
    }
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
    if (el.dataset.key) el.setAttribute("aria-keyshortcuts", el.dataset.key.replace("Ctrl", "Control"));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
}

export function formatTime(value) {
  if (!value) return "";
  const date = typeof value === "number" ? new Date(value * (value < 1e12 ? 1000 : 1)) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(HTML_LANG[current], { hour12: false });
}
