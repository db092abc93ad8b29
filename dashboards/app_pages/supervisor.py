"""Supervisor actions (force logout/busy/idle, intercept a call) and the mailboxes'
voicemail (list, play, mark heard, delete): login with the supervisor role; everyone
else sees the agents read-only."""

from __future__ import annotations

import streamlit as st

from dashboards import queries
from dashboards.app_pages._login import login_form

# Live states (ACD_STATES in dashboards/_live.py) of an agent with a call to take over.
INTERCEPTABLE = ("reserved", "talking")

st.title("Supervisor")
b = queries.backend()
who = login_form(
    b,
    queries.authenticate,
    read_only="Read-only: log in with a supervisor account to act on agents.",
)

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

    # Voicemail · 语音信箱: every box's messages through the ACD (ListVoicemail with this
    # supervisor as the actor); playing, marking heard and deleting go through it too, so
    # the ACD checks the role and writes voicemail.heard / voicemail.deleted.
    st.subheader("Voicemail · 语音信箱")
    if b.commands is not None:
        commands = b.commands
        v1, v2 = st.columns([3, 1])
        box = v1.text_input("Mailbox (empty: all) · 信箱（空：全部）", key="vm_box")
        include_heard = v2.checkbox("Include heard · 含已听", key="vm_heard")
        listed = commands.list_voicemail(who, box.strip(), include_heard)
        # A mark or delete re-reads the list; what it did is shown after that rerun.
        if (last := st.session_state.pop("vm_done", None)) is not None:
            st.success(last)
        if not listed.ok:
            st.error(f"Voicemail: {listed.message}")
        elif not listed.data:
            st.info("No voicemail message · 没有留言")
        else:
            st.dataframe(listed.data, hide_index=True, width="stretch", key="vm_table")
            labels = {
                m["message_id"]: f"{m['received_at'][:19]} · {m['box']} · {m['caller']}"
                + ("" if m["heard"] else " · new")
                for m in listed.data
            }
            message_id = st.selectbox(
                "Message · 留言", list(labels), format_func=labels.__getitem__, key="vm_message"
            )
            m1, m2, m3 = st.columns(3)
            done: queries.CommandResult | None = None
            if m1.button("Play · 播放", key="vm_play"):
                audio = commands.voicemail_audio(who, str(message_id))
                if audio.ok:
                    st.audio(audio.data, format="audio/wav")
                else:
                    done = audio
            if m2.button("Mark heard · 标为已听", key="vm_mark_heard"):
                done = commands.mark_voicemail_heard(who, str(message_id))
            if m3.button("Delete · 删除", key="vm_delete"):
                done = commands.delete_voicemail(who, str(message_id))
            if done is not None:
                text = f"{labels.get(str(message_id), message_id)}: {done.message}"
                if done.ok:
                    st.session_state["vm_done"] = text
                    st.rerun()
                st.error(text)
