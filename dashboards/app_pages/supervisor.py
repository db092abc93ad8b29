"""Supervisor actions (force logout/busy/idle, intercept a call): login with the
supervisor role; everyone else sees the agents read-only."""

from __future__ import annotations

import time

import streamlit as st

from dashboards import queries

MAX_FAILURES = 5
LOCK_S = 30.0
# Live states (ACD_STATES in dashboards/_live.py) of an agent with a call to take over.
INTERCEPTABLE = ("reserved", "talking")

st.title("Supervisor")
b = queries.backend()
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
                st.session_state["supervisor"] = queries.authenticate(b, username, password)
                st.session_state["login_failures"] = 0
                st.rerun()
            except queries.LoginError as exc:
                failures = int(st.session_state.get("login_failures", 0)) + 1
                st.session_state["login_failures"] = failures
                if failures >= MAX_FAILURES:
                    st.session_state["login_locked_until"] = time.monotonic() + LOCK_S
                    st.session_state["login_failures"] = 0
                st.error(f"Login refused: {exc}")
    st.info("Read-only: log in with a supervisor account to act on agents.")
else:
    c1, c2 = st.columns([4, 1])
    c1.success(f"Logged in as {who.username} (supervisor)")
    if c2.button("Log out", key="logout"):
        del st.session_state["supervisor"]
        st.rerun()

board = queries.wallboard(b)
st.dataframe(board.agents, hide_index=True, width="stretch")

if who is not None:
    if b.commands is None:
        st.warning("The ACD API (acd.v1) is not configured: actions are unavailable.")
    elif len(board.agents) == 0:
        st.info("No agent is logged in.")
    else:
        agent = st.selectbox("Agent", list(board.agents["agent"]), key="target_agent")
        reason = st.text_input("Busy reason", value="supervisor", key="busy_reason")
        a1, a2, a3 = st.columns(3)
        result: queries.CommandResult | None = None
        if a1.button("Force logout", key="force_logout"):
            result = b.commands.force_logout(str(agent), who)
        if a2.button("Force busy", key="force_busy"):
            result = b.commands.force_busy(str(agent), reason, who)
        if a3.button("Force idle", key="force_idle"):
            result = b.commands.force_idle(str(agent), who)
        if result is not None:
            (st.success if result.ok else st.error)(f"{agent}: {result.message}")

        # Intercept: the supervisor's own phone takes over an agent's ringing or
        # answered call. Its desk must be logged in (role supervisor, idle): the ACD
        # checks that, and the actor, again.
        st.subheader("Intercept a call")
        on_calls = board.agents[board.agents["state"].isin(INTERCEPTABLE)]
        if len(on_calls) == 0:
            st.info("No agent is ringing or talking.")
        else:
            victim = st.selectbox(
                "Agent on the call", list(on_calls["agent"]), key="intercept_agent"
            )
            st.caption(
                f"Your phone ({who.username}) rings; your desk must be logged in "
                "as a supervisor and idle."
            )
            if st.button("Intercept", key="intercept"):
                taken = b.commands.intercept(str(victim), who.username, who)
                (st.success if taken.ok else st.error)(f"Intercept {victim}: {taken.message}")
