// The login screen: account, password, seat, employee ID, role, skills with levels
// (none ticked: every skill the account is allowed), "start not ready". A refusal shows
// its translated reason; the non-secret fields are remembered for the next shift.

import * as api from "./api.js";
import { t } from "./i18n.js";
import { $, el } from "./dom.js";
import { errorText } from "./ui.js";

const REMEMBER_KEY = "huaan.desktop.login";
const FIELD_OF_ERROR = {
  seat_out_of_range: "seat",
  seat_taken: "seat",
  employee_id_out_of_range: "employee_id",
  already_logged_in: "employee_id",
  role_invalid: "role",
  bad_credentials: "password",
};

let onLoggedIn = () => {};

export function init(loggedIn) {
  onLoggedIn = loggedIn;
  const form = $("#login-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
  $("#skill-add").addEventListener("click", () => addSkillFromInput());
  $("#skill-new").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      addSkillFromInput();
    }
  });
}

export function show(message) {
  $("#work-screen").hidden = true;
  $("#login-screen").hidden = false;
  const form = $("#login-form");
  form.elements.password.value = "";
  restoreRemembered(form);
  const box = $("#login-error");
  box.hidden = !message;
  if (message) box.textContent = message;
  (form.elements.username.value ? form.elements.password : form.elements.username).focus();
}

// Skills offered as checkboxes: those the config names (when readable before login),
// plus any the agent adds by name.
export function offerSkills(names) {
  for (const name of names || []) addSkillRow(name, false, 1);
}

function addSkillFromInput() {
  const input = $("#skill-new");
  const name = input.value.trim();
  if (!/^[A-Za-z0-9_\-.]{1,32}$/.test(name)) {
    input.setAttribute("aria-invalid", "true");
    return;
  }
  input.removeAttribute("aria-invalid");
  addSkillRow(name, true, 1);
  input.value = "";
}

function addSkillRow(name, checked, level) {
  const rows = $("#skill-rows");
  if (rows.querySelector(`[data-skill="${CSS.escape(name)}"]`)) return;
  const id = `skill-${name}`;
  rows.append(
    el(
      "div",
      { class: "skill-row", dataset: { skill: name } },
      el("input", { type: "checkbox", id, checked }),
      el("label", { for: id }, name),
      el("input", {
        type: "number",
        min: 1,
        max: 100,
        value: level,
        class: "level",
        "aria-label": t("login.skill_level_of", { skill: name }),
      }),
    ),
  );
}

function collectSkills() {
  const skills = {};
  for (const row of $("#skill-rows").children) {
    const [check, , level] = row.querySelectorAll("input, label");
    if (check.checked) skills[row.dataset.skill] = Number(level.value) || 1;
  }
  return skills;
}

async function submit(form) {
  const box = $("#login-error");
  box.hidden = true;
  const f = form.elements;
  for (const name of ["username", "password", "seat", "employee_id"]) {
    if (!f[name].value.trim()) {
      box.textContent = t("login.missing", { field: t(`login.${name}`) });
      box.hidden = false;
      f[name].focus();
      return;
    }
  }
  const seat = Number(f.seat.value);
  const employeeId = Number(f.employee_id.value);
  if (!Number.isInteger(seat) || !Number.isInteger(employeeId)) {
    box.textContent = t("error.invalid");
    box.hidden = false;
    (Number.isInteger(seat) ? f.employee_id : f.seat).focus();
    return;
  }
  const body = {
    username: f.username.value.trim(),
    password: f.password.value,
    seat,
    employee_id: employeeId,
    role: f.role.value,
    skills: collectSkills(),
    start_busy: f.start_busy.checked,
  };
  const button = $("#login-submit");
  button.disabled = true;
  try {
    const session = await api.post("/api/login", body);
    remember(body);
    f.password.value = "";
    onLoggedIn(session);
  } catch (error) {
    box.textContent = errorText(error);
    box.hidden = false;
    const field = FIELD_OF_ERROR[error.code] || error.field;
    if (field && f[field]) f[field].focus();
  } finally {
    button.disabled = false;
  }
}

function remember(body) {
  try {
    const { username, seat, employee_id, role, skills } = body;
    localStorage.setItem(REMEMBER_KEY, JSON.stringify({ username, seat, employee_id, role, skills }));
  } catch {
    /* nothing to remember in private mode */
  }
}

function restoreRemembered(form) {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(REMEMBER_KEY) || "null");
  } catch {
    saved = null;
  }
  if (!saved) return;
  const f = form.elements;
  if (!f.username.value) f.username.value = saved.username || "";
  if (!f.seat.value) f.seat.value = saved.seat ?? "";
  if (!f.employee_id.value) f.employee_id.value = saved.employee_id ?? "";
  if (saved.role) f.role.value = saved.role;
  for (const [name, level] of Object.entries(saved.skills || {})) addSkillRow(name, true, level);
}
