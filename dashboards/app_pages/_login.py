"""The login form the Supervisor and Recordings pages share: one account per browser
session (st.session_state["supervisor"]), five failed logins lock the form for 30 s."""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from dashboards import queries

MAX_FAILURES = 5
LOCK_S = 30.0

Authenticate = Callable[[queries.Backend, str, str], queries.Supervisor]


def login_form(
    b: queries.Backend, authenticate: Authenticate, *, read_only: str
) -> queries.Supervisor | None:
    """The logged-in account, or the form (and `read_only` saying what is missed)."""
    who: queries.Supervisor | None = st.session_state.get("supervisor")
    if who is None:
        locked_until = float(st.session_state.get("login_locked_until", 0.0))
        with st.form("login"):
            username = st.text_input("Username", key="login_user")
            password = st.text_input("Password", type="password", key="login_password")
            submitted = st.form_submit_button("Log in")
        if submitted:
            if time.monotonic() < locked_until:
                st.error("Too many failed logins; try again in a moment.")
            else:
                try:
                    st.session_state["supervisor"] = authenticate(b, username, password)
                    st.session_state["login_failures"] = 0
                    st.rerun()
                except queries.LoginError as exc:
                    failures = int(st.session_state.get("login_failures", 0)) + 1
                    st.session_state["login_failures"] = failures
                    if failures >= MAX_FAILURES:
                        st.session_state["login_locked_until"] = time.monotonic() + LOCK_S
                        st.session_state["login_failures"] = 0
                    st.error(f"Login refused: {exc}")
        st.info(read_only)
        return None
    c1, c2 = st.columns([4, 1])
    roles = ", ".join(r for r in who.roles if r != "agent") or "supervisor"
    c1.success(f"Logged in as {who.username} ({roles})")
    if c2.button("Log out", key="logout"):
        del st.session_state["supervisor"]
        st.rerun()
    return who
