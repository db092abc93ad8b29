// Customers: the search (name, number or account; debounced), the screen pop on an
// offer (the record before the phone is answered, an "unknown caller" with a prefilled
// "create", or the operator's CRM link), and the record's edit/save/delete with field
// errors and the version check: a conflict is shown, never overwritten silently.

import * as api from "./api.js";
import { formatTime, t, tOr } from "./i18n.js";
import { $, debounce, el } from "./dom.js";
import { app, emit, on } from "./store.js";
import { clearFieldErrors, confirmDialog, errorText, setFieldError, showError, toastError } from "./ui.js";

// The fields an agent edits (bizdata's CUSTOMER_FIELDS); any other plain field the
// backend sends later is shown and edited too.
const BASE_FIELDS = ["name", "phone", "language", "customer_type", "address", "email", "notes"];
const CHOICES = { language: ["zh", "en"], customer_type: ["resident", "business"] };
const MAX_LENGTH = { name: 100, phone: 32, address: 200, email: 254, notes: 2000 };
const READ_ONLY = new Set(["id", "version", "accounts", "created_at", "updated_at", "updated_by", "created_by", "matched_by"]);
const extraFields = new Set();
let conflict = null; // the stored record after a 409 version_conflict
let selectTab = () => {};

export function init(showTab) {
  selectTab = showTab;
  const search = $("#customer-search");
  const run = debounce(() => runSearch(search.value), 250);
  search.addEventListener("input", run);
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      const first = $("#customer-results button");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Enter") {
      event.preventDefault();
      runSearch(search.value);
    } else if (event.key === "Escape" && search.value) {
      event.stopPropagation();
      search.value = "";
      $("#customer-results").replaceChildren();
    }
  });
  $("#customer-results").addEventListener("keydown", (event) => {
    const buttons = [...$("#customer-results").querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && at < buttons.length - 1) buttons[at + 1].focus();
    else if (event.key === "ArrowUp") (at > 0 ? buttons[at - 1] : search).focus();
    else return;
    event.preventDefault();
  });
  $("#btn-new-customer").addEventListener("click", () => showNew({}));
  $("#customer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  $("#btn-customer-delete").addEventListener("click", remove);
  $("#btn-conflict-reload").addEventListener("click", () => conflict && showRecord(conflict));
  $("#btn-conflict-compare").addEventListener("click", compare);
  $("#dlg-compare").addEventListener("close", compareChosen);
  on("offer", screenPop);
  on("language", () => {
    if (app.customer) showRecord(app.customer, { keepForm: true });
  });
}

export function focusSearch() {
  selectTab("customer");
  const search = $("#customer-search");
  search.focus();
  search.select();
}

async function runSearch(text) {
  const q = text.trim();
  const list = $("#customer-results");
  if (q.length < 2) {
    list.replaceChildren();
    return;
  }
  try {
    const reply = await api.get(`/api/customers${api.query({ q })}`);
    if ($("#customer-search").value.trim() !== q) return; // a newer search is on its way
    const found = reply.customers || [];
    list.replaceChildren(
      ...(found.length
        ? found.map((c) =>
            el(
              "li",
              { role: "option" },
              el(
                "button",
                { type: "button", class: "result", onclick: () => open(c.id) },
                el("strong", {}, c.name || "—"),
                " ",
                el("span", { class: "hint" }, [c.phone, ...accountNumbers(c)].filter(Boolean).join(" · ")),
              ),
            ),
          )
        : [el("li", { class: "hint" }, t("customer.none_found"))]),
    );
  } catch (error) {
    list.replaceChildren(el("li", { class: "error" }, errorText(error)));
  }
}

function accountNumbers(customer) {
  if (Array.isArray(customer.account_numbers)) return customer.account_numbers;
  if (Array.isArray(customer.accounts)) return customer.accounts.map((a) => a.account_number || a);
  return customer.account ? [customer.account] : [];
}

export async function open(id) {
  try {
    showRecord(await api.get(`/api/customers/${encodeURIComponent(id)}`));
  } catch (error) {
    toastError(error);
  }
}

// ---------------------------------------------------------------- screen pop

function screenPop(offer) {
  const pop = $("#screen-pop");
  selectTab("customer");
  const caller = offer.caller || t("common.unknown");
  if (offer.screen_pop_url) {
    // R-INT-1: the operator's CRM, in its own tab (never an iframe).
    pop.replaceChildren(
      el("strong", {}, t("pop.external", { caller })),
      " ",
      el(
        "a",
        { href: offer.screen_pop_url, target: "_blank", rel: "noopener noreferrer", class: "button primary", id: "pop-link" },
        t("pop.open_crm"),
      ),
    );
    pop.hidden = false;
    return;
  }
  if (offer.customer) {
    pop.replaceChildren(el("strong", {}, t("pop.found", { caller })));
    pop.hidden = false;
    showRecord(offer.customer);
    return;
  }
  pop.replaceChildren(
    el("strong", {}, t("pop.unknown", { caller })),
    " ",
    el(
      "button",
      { type: "button", id: "pop-create", onclick: () => showNew({ phone: offer.caller || "" }) },
      t("pop.create"),
    ),
  );
  pop.hidden = false;
  clearRecord();
}

// ---------------------------------------------------------------- the record

function clearRecord() {
  app.customer = null;
  conflict = null;
  $("#customer-record").hidden = true;
  emit("customer", null);
}

function fieldsOf(record) {
  for (const [key, value] of Object.entries(record || {})) {
    if (!READ_ONLY.has(key) && !BASE_FIELDS.includes(key) && (value === null || typeof value !== "object")) {
      extraFields.add(key);
    }
  }
  return [...BASE_FIELDS, ...extraFields];
}

function buildFields(record) {
  const box = $("#customer-fields");
  box.replaceChildren(
    ...fieldsOf(record).map((name) => {
      const value = record[name] ?? "";
      let input;
      if (CHOICES[name]) {
        input = el("select", { name }, ...CHOICES[name].map((v) => el("option", { value: v }, t(`${name}.${v}`))));
        input.value = value || CHOICES[name][0];
      } else if (name === "notes") {
        input = el("textarea", { name, rows: 2, maxlength: MAX_LENGTH.notes });
        input.value = value;
      } else {
        input = el("input", {
          name,
          value,
          type: name === "email" ? "email" : "text",
          inputmode: name === "phone" ? "tel" : undefined,
          required: name === "name" || name === "phone",
          maxlength: MAX_LENGTH[name] || 200,
        });
      }
      return el("label", { class: name === "notes" ? "span2" : "" }, el("span", {}, tOr(`customer.field.${name}`, name)), input);
    }),
  );
}

export function showRecord(record, { keepForm = false } = {}) {
  const form = $("#customer-form");
  const mine = keepForm ? formValues() : null;
  app.customer = record;
  conflict = null;
  $("#record-conflict").hidden = true;
  $("#customer-form-error").hidden = true;
  $("#customer-msg").textContent = "";
  clearFieldErrors(form);
  $("#record-title").textContent = record.id ? `${record.name || "—"} · #${record.id}` : t("customer.new_title");
  $("#record-version").textContent = record.id ? t("customer.version", { v: record.version }) : "";
  buildFields(mine ? { ...record, ...mine } : record);
  $("#btn-customer-delete").hidden = !record.id;
  renderAccounts(record);
  $("#customer-record").hidden = false;
  emit("customer", record.id ? record : null);
}

function renderAccounts(record) {
  const box = $("#customer-accounts");
  const accounts = Array.isArray(record.accounts) ? record.accounts : [];
  if (!accounts.length) {
    box.replaceChildren();
    return;
  }
  const cols = ["account_number", "service_address", "balance", "due_date", "status"];
  box.replaceChildren(
    el("h3", {}, t("customer.accounts")),
    el(
      "table",
      { class: "table" },
      el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {}, t(`account.${c}`))))),
      el(
        "tbody",
        {},
        ...accounts.map((a) =>
          el(
            "tr",
            {},
            ...cols.map((c) => el("td", {}, c === "status" ? tOr(`account.status.${a[c]}`, a[c] ?? "") : (a[c] ?? ""))),
          ),
        ),
      ),
    ),
  );
}

function showNew(prefill) {
  selectTab("customer");
  showRecord({ name: "", phone: "", language: "zh", customer_type: "resident", ...prefill });
  $("#customer-form").elements.name.focus();
}

function formValues() {
  const values = {};
  for (const input of $("#customer-form").querySelectorAll("input, select, textarea")) {
    if (input.name) values[input.name] = input.value.trim();
  }
  return values;
}

export async function save() {
  const form = $("#customer-form");
  if ($("#customer-record").hidden) return;
  clearFieldErrors(form);
  $("#customer-form-error").hidden = true;
  const values = formValues();
  for (const name of ["name", "phone"]) {
    if (!values[name]) {
      setFieldError(form, name, t("customer.required"));
      return;
    }
  }
  const record = app.customer || {};
  try {
    let saved;
    if (record.id) {
      saved = await api.put(`/api/customers/${record.id}`, { ...values, version: record.version });
    } else {
      saved = await api.post("/api/customers", values);
    }
    showRecord(saved);
    $("#customer-msg").textContent = t(record.id ? "customer.saved" : "customer.created");
  } catch (error) {
    failed(form, error);
  }
}

function failed(form, error) {
  if (error.code === "version_conflict") {
    conflict = error.current;
    $("#record-conflict").hidden = false;
    $("#btn-conflict-compare").disabled = !conflict;
    $("#btn-conflict-reload").disabled = !conflict;
    $("#btn-conflict-reload").focus();
    return;
  }
  if (error.field && setFieldError(form, error.field, errorText(error))) return;
  showError($("#customer-form-error"), error);
}

async function remove() {
  const record = app.customer;
  if (!record || !record.id) return;
  if (!(await confirmDialog(t("customer.confirm_delete", { name: record.name }), t("customer.delete")))) return;
  try {
    await api.del(`/api/customers/${record.id}${api.query({ version: record.version })}`);
    clearRecord();
    $("#screen-pop").hidden = true;
  } catch (error) {
    if (error.code === "not_found") clearRecord();
    failed($("#customer-form"), error);
  }
}

// ---------------------------------------------------------------- conflicts

function compare() {
  if (!conflict) return;
  const mine = formValues();
  const rows = fieldsOf({ ...conflict, ...mine }).map((name) => {
    const shown = (value) => (CHOICES[name] && value ? t(`${name}.${value}`) : String(value ?? ""));
    const theirs = conflict[name] ?? "";
    const ours = mine[name] ?? "";
    return el(
      "tr",
      { class: String(theirs) === String(ours) ? "" : "differs" },
      el("th", {}, tOr(`customer.field.${name}`, name)),
      el("td", {}, shown(ours)),
      el("td", {}, shown(theirs)),
    );
  });
  $("#compare-rows").replaceChildren(...rows);
  const dialog = $("#dlg-compare");
  dialog.returnValue = "cancel";
  dialog.showModal();
}

async function compareChosen() {
  const choice = $("#dlg-compare").returnValue;
  if (!conflict) return;
  if (choice === "theirs") {
    showRecord(conflict);
  } else if (choice === "mine") {
    // The agent has seen both and chose theirs to be replaced: save over the new version.
    app.customer = conflict;
    await save();
  }
}
