"""Supervisor actions (force logout/busy/idle; listen, whisper, barge or intercept on a
call, and the monitoring sessions to switch or stop) and the mailboxes' voicemail (list,
play, mark heard, delete): login with the supervisor role; everyone else sees the agents
and the sessions read-only."""

from __future__ import annotations

import re

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboards import i18n, queries
from dashboards.app_pages._login import login_form
from dashboards.app_pages._monitoring import mode_label, monitored_text
from dashboards.i18n import t

# GrpcAcdCommands.intercept's answer (dashboards/_commands.py), worded by the page.
_RINGING = re.compile(r"call (?P<call>\S+): ringing (?P<user>\S+) to take it over")
# Live states (ACD_STATES in dashboards/_live.py) of an agent with a call to take over;
# listen, whisper and barge need it answered.
INTERCEPTABLE = ("reserved", "talking")
MONITORABLE = "talking"
# The role the ACD requires of the supervisor whose phone joins a call.
MONITOR_ROLE = "supervisor"


def said(message: str) -> str:
    """An ACD answer in the page's language where it is one of ours ("done"); its
    refusals (error codes and their details) are shown as the ACD gave them."""
    if (ringing := _RINGING.fullmatch(message)) is not None:
        return t("sup.intercept_ringing", call=ringing["call"], user=ringing["user"])
    return {"done": t("sup.done"), "deferred until the call ends": t("sup.deferred")}.get(
        message, message
    )


def monitor_controls(b: queries.Backend, who: queries.Supervisor, board: queries.Wallboard) -> None:
    """Pick an agent on a call and listen, whisper, barge (optionally recorded) or
    intercept: each through the ACD with `who` as actor and its phone as the one that
    rings; the ACD checks the role, the desk and the scope, and says why it refuses."""
    assert b.commands is not None
    on_calls = board.agents[board.agents["state"].isin(INTERCEPTABLE)]
    if len(on_calls) == 0:
        st.info(t("sup.none_on_call"))
        return
    rows = {r["agent"]: r for r in on_calls.to_dict("records")}

    # Worded now, in the session's language (a format_func may be called outside the run).
    described = {
        agent: " · ".join(
            part
            for part in (agent, i18n.state_label(row["state"]), monitored_text(row["monitored"]))
            if part
        )
        for agent, row in rows.items()
    }
    victim = str(
        st.selectbox(
            t("mon.agent"), list(rows), format_func=described.__getitem__, key="call_agent"
        )
    )
    record = st.checkbox(t("mon.record"), key="monitor_record")
    st.caption(t("mon.phone", user=who.username, **b.monitor_keys))
    answered = rows[victim]["state"] == MONITORABLE
    if not answered:
        st.caption(t("mon.answered_only"))
    buttons = st.columns(4)
    for column, mode in zip(buttons[:3], queries.MONITOR_START_MODES, strict=True):
        if column.button(mode_label(mode), key=f"monitor_{mode}", disabled=not answered):
            done = b.commands.monitor(victim, who.username, mode, record, who)
            if done.ok:
                ringing = t(
                    "mon.ringing",
                    session=done.data["session_id"],
                    call=done.data["call_id"],
                    user=who.username,
                )
                st.success(t("mon.result", mode=mode_label(mode), agent=victim, message=ringing))
            else:
                st.error(t("mon.result", mode=mode_label(mode), agent=victim, message=done.message))
    if buttons[3].button(t("sup.intercept"), key="intercept"):
        taken = b.commands.intercept(victim, who.username, who)
        (st.success if taken.ok else st.error)(
            t("sup.intercept_result", agent=victim, message=said(taken.message))
        )


@st.fragment(run_every=queries.REFRESH_S)
def monitoring_sessions(who: queries.Supervisor | None) -> None:
    """The live monitoring sessions (refreshed every 2 s): who listens to whom, in which
    mode, for how long, each with Switch and Stop for a logged-in supervisor. The ACD
    decides who may: the session's supervisor, who asked for it, or a supervisor whose
    scope covers the call (another's session is marked so)."""
    b = queries.backend()
    board = queries.live_board(b)
    st.subheader(t("mon.sessions"))
    if board.problems:  # the ACD did not answer: no list rather than an empty one
        for what, detail in board.problems:
            st.warning(t(f"wb.problem.{what}", detail=detail))
        return
    if len(board.monitors) == 0:
        st.info(t("mon.no_sessions"))
        return
    can_act = who is not None and b.commands is not None and MONITOR_ROLE in who.roles
    for session in board.monitors.to_dict("records"):
        sid = session["session_id"]
        own = who is not None and session["supervisor"] == who.username
        with st.container(border=True):
            text, pick, switch, stop = st.columns([5, 2, 1, 1], vertical_alignment="center")
            line = t(
                "mon.session",
                supervisor=session["supervisor"],
                agent=session["agent"],
                mode=mode_label(session["mode"]),
                state=t(f"mon.state.{session['state']}"),
                duration=i18n.fmt_duration(session["duration_s"], i18n.language()),
            )
            text.markdown(line if own else f"{line} · {t('mon.theirs')}")
            if not can_act:
                continue
            assert who is not None and b.commands is not None
            modes = {m: mode_label(m) for m in queries.MONITOR_SWITCH_MODES if m != session["mode"]}
            target = pick.selectbox(
                t("mon.switch_to"),
                list(modes),
                format_func=modes.__getitem__,
                key=f"switch_mode_{sid}",
                label_visibility="collapsed",
            )
            done: queries.CommandResult | None = None
            if switch.button(
                t("mon.switch"), key=f"switch_{sid}", disabled=session["state"] != "active"
            ):
                done = b.commands.switch_monitor(sid, str(target), who)
            if stop.button(t("mon.stop"), key=f"stop_{sid}"):
                done = b.commands.stop_monitor(sid, who)
            if done is not None:
                (st.success if done.ok else st.error)(
                    t("sup.result", agent=session["agent"], message=said(done.message))
                )


st.title(t("sup.title"))
b = queries.backend()
who = login_form(b, queries.authenticate, read_only=t("sup.read_only"))

board = queries.live_board(b)
agents = board.agents.assign(monitored=board.agents["monitored"].map(monitored_text))
st.dataframe(
    i18n.styled(agents),
    hide_index=True,
    width="stretch",
    column_config=i18n.table_columns(agents),
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

        # Listen, whisper, barge (docs/monitoring.md) or intercept: the supervisor's own
        # phone rings, whose desk must be logged in with the supervisor role.
        st.subheader(t("mon.title"))
        if MONITOR_ROLE in who.roles:
            monitor_controls(b, who, board)
        else:
            roles = ", ".join(who.roles) or "-"
            st.info(t("mon.needs_role", user=who.username, roles=roles))

monitoring_sessions(who)

if who is not None:
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
