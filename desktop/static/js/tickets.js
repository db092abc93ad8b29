// Complaints and tickets (R-AG-7): file a complaint for the customer on screen and the
// current (or last) call, raise a ticket to a unit, search past complaints, a unit's
// ticket queue with overdue ones flagged, a ticket's history and the transitions its
// state allows.

import * as api from "./api.js";
import { formatTime, label, t, tOr } from "./i18n.js";
import { $, debounce, el } from "./dom.js";
import { app, on } from "./store.js";
import { clearFieldErrors, errorText, setFieldError, showError, toastError } from "./ui.js";

// The ticket state machine of docs/desktop.md: the buttons a state offers.
const NEXT = {
  assigned: ["in_progress"],
  in_progress: ["resolved"],
  resolved: ["closed", "in_progress"],
  closed: [],
};
const OPEN_STATES = ["assigned", "in_progress"];
const COMPLAINT_CATEGORIES = ["billing", "metering", "outage", "service", "other"];

export function init() {
  $("#complaint-form").addEventListener("submit", (event) => {
    event.preventDefault();
    fileComplaint();
  });
  const search = $("#complaint-search");
  search.addEventListener("input", debounce(loadComplaints, 300));
  for (const id of ["#ticket-unit", "#ticket-status", "#ticket-overdue"]) $(id).addEventListener("change", loadTickets);
  $("#btn-ticket-refresh").addEventListener("click", loadTickets);
  on("customer", () => {
    renderFor();
    loadComplaints();
  });
  on("call-ended", renderFor);
  on("offer", renderFor);
  on("language", () => {
    fillUnits();
    renderFor();
  });
}

export function fillUnits() {
  for (const select of document.querySelectorAll(".unit-select")) {
    const chosen = select.value;
    select.replaceChildren(
      ...((app.config && app.config.ticket_units) || []).map((unit) => el("option", { value: unit.code }, label(unit))),
    );
    if (chosen) select.value = chosen;
  }
  // Complaint categories are codes; the config may name its own, else the page's set.
  const categories = (app.config && app.config.complaint_categories) || COMPLAINT_CATEGORIES;
  const select = $("#complaint-category");
  const chosen = select.value;
  select.replaceChildren(
    ...categories.map((c) =>
      typeof c === "string" ? el("option", { value: c }, t(`complaint.cat.${c}`)) : el("option", { value: c.code }, label(c)),
    ),
  );
  if (chosen) select.value = chosen;
}

function unitLabel(code) {
  const unit = ((app.config && app.config.ticket_units) || []).find((u) => u.code === code);
  return unit ? label(unit) : code || "";
}

function callForComplaint() {
  return app.callId || app.lastCallId;
}

function renderFor() {
  const customer = app.customer;
  $("#complaint-for").textContent = customer
    ? t("complaint.for", { name: customer.name, id: customer.id })
    : t("complaint.no_customer");
  const callId = callForComplaint();
  const withCall = $("#complaint-form").elements.with_call;
  withCall.disabled = !callId;
  withCall.checked = Boolean(callId);
  $("#complaint-call-label").textContent = callId ? t("complaint.with_call", { id: callId }) : t("complaint.no_call");
  $("#complaint-form").querySelector("button[type=submit]").disabled = !customer;
}

async function fileComplaint() {
  const form = $("#complaint-form");
  clearFieldErrors(form);
  $("#complaint-error").hidden = true;
  $("#complaint-msg").textContent = "";
  const customer = app.customer;
  if (!customer) return;
  const f = form.elements;
  const body = { customer_id: customer.id, category: f.category.value.trim(), description: f.description.value.trim() };
  if (!body.category) return void setFieldError(form, "category", t("customer.required"));
  if (!body.description) return void setFieldError(form, "description", t("customer.required"));
  if (f.with_call.checked && callForComplaint()) body.call_id = callForComplaint();
  try {
    const complaint = await api.post("/api/complaints", body);
    let message = t("complaint.filed", { id: complaint.id });
    if (f.raise_ticket.checked) {
      const ticket = await api.post("/api/tickets", { complaint_id: complaint.id, unit: f.unit.value });
      message = t("complaint.filed_with_ticket", { id: complaint.id, ticket: ticket.id, unit: unitLabel(ticket.unit) });
      $("#ticket-unit").value = ticket.unit;
      showTicket(ticket.id);
    }
    $("#complaint-msg").textContent = message;
    f.description.value = "";
    loadComplaints();
    loadTickets();
  } catch (error) {
    if (!(error.field && setFieldError(form, error.field, errorText(error)))) showError($("#complaint-error"), error);
  }
}

export async function loadComplaints() {
  const list = $("#complaint-list");
  const q = $("#complaint-search").value.trim();
  const customer = app.customer;
  if (!customer && q.length < 2) {
    list.replaceChildren();
    return;
  }
  try {
    const reply = await api.get(`/api/complaints${api.query({ customer_id: customer ? customer.id : "", q })}`);
    const complaints = reply.complaints || [];
    list.replaceChildren(
      ...(complaints.length ? complaints.map(complaintItem) : [el("li", { class: "hint" }, t("complaint.none"))]),
    );
  } catch (error) {
    list.replaceChildren(el("li", { class: "error" }, errorText(error)));
  }
}

function complaintItem(c) {
  const unit = el("select", { "aria-label": t("ticket.unit") });
  for (const u of (app.config && app.config.ticket_units) || []) unit.append(el("option", { value: u.code }, label(u)));
  const raise = async () => {
    try {
      const ticket = await api.post("/api/tickets", { complaint_id: c.id, unit: unit.value });
      $("#ticket-unit").value = ticket.unit;
      loadTickets();
      showTicket(ticket.id);
    } catch (error) {
      toastError(error);
    }
  };
  const tickets = Array.isArray(c.tickets) ? c.tickets : [];
  return el(
    "li",
    { class: "complaint" },
    el("div", {}, el("strong", {}, `#${c.id} ${tOr(`complaint.cat.${c.category}`, c.category || "")}`), " ", el("span", { class: "hint" }, formatTime(c.created_at))),
    el("div", {}, c.description || ""),
    c.call_id ? el("div", { class: "hint" }, t("complaint.call", { id: c.call_id })) : null,
    c.recording_ref ? el("div", { class: "hint" }, t("complaint.recording", { ref: c.recording_ref })) : null,
    tickets.length
      ? el("div", {}, ...tickets.map((tk) => el("button", { type: "button", class: "link", onclick: () => showTicket(tk.id ?? tk) }, `${t("ticket.id")} #${tk.id ?? tk}`)))
      : null,
    el("div", { class: "row" }, unit, el("button", { type: "button", onclick: raise }, t("complaint.raise_ticket"))),
  );
}

// ---------------------------------------------------------------- tickets

function isOverdue(ticket) {
  if (typeof ticket.overdue === "boolean") return ticket.overdue;
  if (!OPEN_STATES.includes(ticket.status)) return false;
  const unit = ((app.config && app.config.ticket_units) || []).find((u) => u.code === ticket.unit);
  const since = Date.parse(ticket.dispatched_at || ticket.assigned_at || ticket.created_at || "");
  if (!unit || Number.isNaN(since)) return false;
  return Date.now() - since > unit.overdue_after_h * 3600_000;
}

export async function loadTickets() {
  const rows = $("#ticket-rows");
  const params = {
    unit: $("#ticket-unit").value,
    status: $("#ticket-status").value,
    overdue: $("#ticket-overdue").checked,
  };
  try {
    const reply = await api.get(`/api/tickets${api.query(params)}`);
    const tickets = reply.tickets || [];
    rows.replaceChildren(
      ...(tickets.length
        ? tickets.map((ticket) => {
            const late = isOverdue(ticket);
            return el(
              "tr",
              { class: late ? "overdue" : "" },
              el("td", {}, el("button", { type: "button", class: "link", onclick: () => showTicket(ticket.id) }, `#${ticket.id}`)),
              el("td", {}, unitLabel(ticket.unit)),
              el("td", {}, t(`ticket.state.${ticket.status}`)),
              el("td", {}, formatTime(ticket.created_at)),
              el("td", {}, late ? el("span", { class: "flag" }, t("ticket.overdue")) : ""),
            );
          })
        : [el("tr", {}, el("td", { colspan: 5, class: "hint" }, t("ticket.none")))]),
    );
  } catch (error) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error" }, errorText(error))));
  }
}

export async function showTicket(id) {
  const box = $("#ticket-detail");
  try {
    renderTicket(await api.get(`/api/tickets/${encodeURIComponent(id)}`));
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, errorText(error)));
    box.hidden = false;
  }
}

function renderTicket(ticket) {
  const box = $("#ticket-detail");
  const note = el("textarea", { rows: 2, maxlength: 1000, "aria-label": t("ticket.note"), placeholder: t("ticket.note") });
  const message = el("p", { class: "error", role: "alert", hidden: true });
  const move = async (to, unit) => {
    const body = { to, note: note.value.trim(), version: ticket.version };
    if (unit) body.unit = unit;
    try {
      renderTicket(await api.post(`/api/tickets/${ticket.id}/transition`, body));
      loadTickets();
    } catch (error) {
      showError(message, error);
      if (error.code === "version_conflict") {
        message.append(" ", el("button", { type: "button", onclick: () => showTicket(ticket.id) }, t("customer.reload")));
      }
    }
  };
  const buttons = (NEXT[ticket.status] || []).map((to) =>
    el(
      "button",
      { type: "button", class: "primary", dataset: { to }, onclick: () => move(to) },
      t(ticket.status === "resolved" && to === "in_progress" ? "ticket.reopen" : `ticket.to.${to}`),
    ),
  );
  let dispatch = null;
  if (OPEN_STATES.includes(ticket.status)) {
    const unit = el("select", { "aria-label": t("ticket.dispatch_to") });
    for (const u of (app.config && app.config.ticket_units) || []) {
      if (u.code !== ticket.unit) unit.append(el("option", { value: u.code }, label(u)));
    }
    dispatch = el("span", {}, unit, el("button", { type: "button", onclick: () => move("assigned", unit.value) }, t("ticket.dispatch")));
  }
  const history = Array.isArray(ticket.history) ? ticket.history : [];
  box.replaceChildren(
    el("h3", {}, `${t("ticket.id")} #${ticket.id} · ${t(`ticket.state.${ticket.status}`)}`, isOverdue(ticket) ? el("span", { class: "flag" }, t("ticket.overdue")) : null),
    el(
      "dl",
      { class: "kv" },
      el("dt", {}, t("ticket.unit")),
      el("dd", {}, unitLabel(ticket.unit)),
      el("dt", {}, t("ticket.complaint")),
      el("dd", {}, ticket.complaint_id != null ? `#${ticket.complaint_id}` : "—"),
      el("dt", {}, t("ticket.created")),
      el("dd", {}, formatTime(ticket.created_at)),
    ),
    el("h4", {}, t("ticket.history")),
    el(
      "table",
      { class: "table" },
      el("thead", {}, el("tr", {}, ...["at", "by", "from", "to", "unit", "note"].map((c) => el("th", {}, t(`ticket.h.${c}`))))),
      el(
        "tbody",
        {},
        ...history.map((h) =>
          el(
            "tr",
            {},
            el("td", {}, formatTime(h.at)),
            el("td", {}, h.by ?? ""),
            el("td", {}, h.from ? t(`ticket.state.${h.from}`) : "—"),
            el("td", {}, h.to ? t(`ticket.state.${h.to}`) : ""),
            el("td", {}, unitLabel(h.unit)),
            el("td", {}, h.note ?? ""),
          ),
        ),
      ),
    ),
    buttons.length || dispatch ? note : null,
    el("div", { class: "row" }, ...buttons, dispatch),
    message,
  );
  box.hidden = false;
}
