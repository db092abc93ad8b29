"""Supervisor actions (force logout/busy/idle, intercept a call) and the mailboxes'
voicemail (list, play, mark heard, delete): login with the supervisor role; everyone
else sees the agents read-only."""

from __future__ import annotations

import re

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboards import i18n, queries
from dashboards.app_pages._login import login_form
from dashboards.i18n import t

# GrpcAcdCommands.intercept's answer (dashboards/_commands.py), worded by the page.
_RINGING = re.compile(r"call (?P<call>\S+): ringing (?P<user>\S+) to take it over")
# Live states (ACD_STATES in dashboards/_live.py) of an agent with a call to take over.
INTERCEPTABLE = ("reserved", "talking")


def said(message: str) -> str:
    """An ACD answer in the page's language where it is one of ours ("done"); its
    refusals (error codes and their details) are shown as the ACD gave them."""
    if (ringing := _RINGING.fullmatch(message)) is not None:
        return t("sup.intercept_ringing", call=ringing["call"], user=ringing["user"])
    return {"done": t("sup.done"), "deferred until the call ends": t("sup.deferred")}.get(
        message, message
    )


st.title(t("sup.title"))
b = queries.backend()
who = login_form(b, queries.authenticate, read_only=t("sup.read_only"))

board = queries.wallboard(b)
st.dataframe(
    i18n.styled(board.agents),
    hide_index=True,
    width="stretch",
    column_config=i18n.table_columns(board.agents),
)

if who is not None:
    if b.commands is None:
        st.warning(t("sup.no_commands"))
    elif len(board.agents) == 0:
        st.info(t("sup.no_agents"))
    else:
        agent = st.selectbox(t("sup.agent"), list(board.agents["agent"]), key="target_agent")
        # The default reason is a code the ACD records (events, reports), not a word.
        reason = st.text_input(t("sup.busy_reason"), value="supervisor", key="busy_reason")
        a1, a2, a3 = st.columns(3)
        result: queries.CommandResult | None = None
        if a1.button(t("sup.force_logout"), key="force_logout"):
            result = b.commands.force_logout(str(agent), who)
        if a2.button(t("sup.force_busy"), key="force_busy"):
            result = b.commands.force_busy(str(agent), reason, who)
        if a3.button(t("sup.force_idle"), key="force_idle"):
            result = b.commands.force_idle(str(agent), who)
        if result is not None:
            (st.success if result.ok else st.error)(
                t("sup.result", agent=agent, message=said(result.message))
            )

        # Intercept: the supervisor's own phone takes over an agent's ringing or
        # answered call. Its desk must be logged in (role supervisor, idle): the ACD
        # checks that, and the actor, again.
        st.subheader(t("sup.intercept_title"))
        on_calls = board.agents[board.agents["state"].isin(INTERCEPTABLE)]
        if len(on_calls) == 0:
            st.info(t("sup.none_on_call"))
        else:
            victim = st.selectbox(
                t("sup.agent_on_call"), list(on_calls["agent"]), key="intercept_agent"
            )
            st.caption(t("sup.intercept_caption", user=who.username))
            if st.button(t("sup.intercept"), key="intercept"):
                taken = b.commands.intercept(str(victim), who.username, who)
                (st.success if taken.ok else st.error)(
                    t("sup.intercept_result", agent=victim, message=said(taken.message))
                )

    # Voicemail · 语音信箱: every box's messages through the ACD (ListVoicemail with this
    # supervisor as the actor); playing, marking heard and deleting go through it too, so
    # the ACD checks the role and writes voicemail.heard / voicemail.deleted.
    st.subheader(t("sup.voicemail"))
    if b.commands is not None:
        commands = b.commands
        v1, v2 = st.columns([3, 1])
        box = v1.text_input(t("sup.vm_box"), key="vm_box")
        include_heard = v2.checkbox(t("sup.vm_heard"), key="vm_heard")
        listed = commands.list_voicemail(who, box.strip(), include_heard)
        # A mark or delete re-reads the list; what it did is shown after that rerun.
        if (last := st.session_state.pop("vm_done", None)) is not None:
            st.success(last)
        if not listed.ok:
            st.error(t("sup.vm_error", message=listed.message))
        elif not listed.data:
            st.info(t("sup.vm_none"))
        else:
            messages = pd.DataFrame(listed.data)
            st.dataframe(
                i18n.styled(messages),
                hide_index=True,
                width="stretch",
                key="vm_table",
                column_config=i18n.table_columns(messages),
            )
            labels = {
                m["message_id"]: f"{m['received_at'][:19]} · {m['box']} · {m['caller']}"
                + ("" if m["heard"] else f" · {t('sup.vm_new')}")
                for m in listed.data
            }
            message_id = st.selectbox(
                t("sup.vm_message"), list(labels), format_func=labels.__getitem__, key="vm_message"
            )
            m1, m2, m3 = st.columns(3)
            done: queries.CommandResult | None = None
            if m1.button(t("sup.vm_play"), key="vm_play"):
                audio = commands.voicemail_audio(who, str(message_id))
                if audio.ok:
                    st.audio(audio.data, format="audio/wav")
                else:
                    done = audio
            if m2.button(t("sup.vm_mark_heard"), key="vm_mark_heard"):
                done = commands.mark_voicemail_heard(who, str(message_id))
            if m3.button(t("sup.vm_delete"), key="vm_delete"):
                done = commands.delete_voicemail(who, str(message_id))
            if done is not None:
                text = f"{labels.get(str(message_id), message_id)}: {said(done.message)}"
                if done.ok:
                    st.session_state["vm_done"] = text
                    st.rerun()
                st.error(text)
