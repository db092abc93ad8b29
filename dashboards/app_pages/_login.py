"""The login form the Supervisor and Recordings pages share: one account per browser
session (st.session_state["supervisor"]), five failed logins lock the form for 30 s.
A login applies the user's remembered language (dashboards/i18n.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from dashboards import i18n, queries
from dashboards.i18n import t

MAX_FAILURES = 5
LOCK_S = 30.0

Authenticate = Callable[[queries.Backend, str, str], queries.Supervisor]


def refusal(exc: queries.LoginError) -> str:
    """Why a login (or a viewer checked again) was refused, in the page's language."""
    return t(f"login.reason.{exc.reason}", user=exc.username)


def login_form(
    b: queries.Backend, authenticate: Authenticate, *, read_only: str
) -> queries.Supervisor | None:
    """The logged-in account, or the form (and `read_only` saying what is missed)."""
    who: queries.Supervisor | None = st.session_state.get("supervisor")
    if who is None:
        locked_until = float(st.session_state.get("login_locked_until", 0.0))
        with st.form("login"):
            username = st.text_input(t("login.username"), key="login_user")
            password = st.text_input(t("login.password"), type="password", key="login_password")
            submitted = st.form_submit_button(t("login.submit"))
        if submitted:
            if time.monotonic() < locked_until:
                st.error(t("login.locked"))
            else:
                try:
                    st.session_state["supervisor"] = who = authenticate(b, username, password)
                    st.session_state["login_failures"] = 0
                    i18n.on_login(b.preferences, who.username)
                    st.rerun()
                except queries.LoginError as exc:
                    failures = int(st.session_state.get("login_failures", 0)) + 1
                    st.session_state["login_failures"] = failures
                    if failures >= MAX_FAILURES:
                        st.session_state["login_locked_until"] = time.monotonic() + LOCK_S
                        st.session_state["login_failures"] = 0
                    st.error(t("login.refused", reason=refusal(exc)))
        st.info(read_only)
        return None
    c1, c2 = st.columns([4, 1])
    # The roles a supervisor recognises, in words; an agent role goes without saying.
    roles = ", ".join(
        t(f"role.{r}") if f"role.{r}" in i18n.CATALOG else r for r in who.roles if r != "agent"
    )
    c1.success(t("login.as", user=who.username, roles=roles or t("role.supervisor")))
    if c2.button(t("login.logout"), key="logout"):
        del st.session_state["supervisor"]
        st.rerun()
    return who
