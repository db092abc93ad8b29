"""Recordings · 录音: search by call ID, agent, number and date range; play a recording
(the viewer's role checked, every playback written to the access log); legal hold on
and off (logged as hold / release); the access log. Status, pauses and failures are
in the table. Supervisors and admins only (docs/recording.md)."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards import queries
from dashboards.app_pages._login import login_form

st.title("Recordings · 录音")
b = queries.backend()
who = login_form(
    b,
    queries.authenticate_for_recordings,
    read_only="Log in with a supervisor or admin account to search and play recordings. "
    "· 请用班长或管理员账号登录",
)

if who is not None:
    if b.recordings is None:
        st.warning(
            "Recordings are not configured (no recording: or bizdata: section). · 未配置录音"
        )
        st.stop()
    today = queries.day_start(b).date()
    c1, c2, c3 = st.columns(3)
    call_id = c1.text_input("Call ID · 呼叫号", key="rec_call_id")
    agent = c2.text_input("Agent · 座席", key="rec_agent")
    number = c3.text_input("Number (caller or dialled) · 号码（主叫或被叫）", key="rec_number")
    picked = st.date_input(
        "Started between · 开始日期", value=(today - timedelta(days=6), today), key="rec_range"
    )
    first, last = picked if isinstance(picked, tuple) and len(picked) == 2 else (today, today)
    found = queries.search_recordings(
        b, call_id=call_id, agent=agent, number=number, first=first, last=last
    )
    st.caption(f"{len(found)} recordings · 条录音 (newest first · 最新在前)")
    st.dataframe(
        found,
        hide_index=True,
        width="stretch",
        key="rec_table",
        column_config={
            "started_at": st.column_config.TextColumn("started · 开始"),
            "duration_s": st.column_config.NumberColumn("length (s) · 时长", format="%.1f"),
            "status": st.column_config.TextColumn("status · 状态"),
            "failure": st.column_config.TextColumn("failure · 失败原因"),
            "pauses": st.column_config.TextColumn("pauses · 暂停"),
            "legal_hold": st.column_config.CheckboxColumn("legal hold · 法律保留"),
        },
    )
    if len(found):
        rows = found.set_index("ref")
        labels = {
            ref: f"{row['started_at'][:19]} · {row['call_id']} · {row['agent'] or '—'}"
            f" · {row['status']}"
            for ref, row in rows.iterrows()
        }
        ref = str(
            st.selectbox(
                "Recording · 录音", list(labels), format_func=labels.__getitem__, key="rec_ref"
            )
        )
        row = rows.loc[ref]
        if row["failure"]:
            st.error(f"Failed · 失败: {row['failure']} ({row['status']})")
        if row["pauses"]:
            st.caption(f"Paused · 暂停: {row['pauses']}")
        p1, p2 = st.columns(2)
        if p1.button("Play · 播放", key="rec_play"):
            try:
                st.audio(queries.play_recording(b, who, ref), format="audio/wav")
            except queries.RecordingRefused as exc:
                st.error(f"Refused · 拒绝: {exc}")
            except queries.RecordingFileMissing as exc:
                st.error(f"No file to play · 无录音文件: {exc}")
        held = bool(row["legal_hold"])
        if p2.button(
            "Release legal hold · 解除保留" if held else "Put on legal hold · 法律保留",
            key="rec_hold",
        ):
            try:
                queries.set_legal_hold(b, who, ref, not held)
                st.session_state["rec_done"] = f"{ref}: {'released' if held else 'on legal hold'}"
                st.rerun()
            except queries.RecordingRefused as exc:
                st.error(f"Refused · 拒绝: {exc}")
        if (done := st.session_state.pop("rec_done", None)) is not None:
            st.success(done)
        st.subheader("Access log · 访问记录")
        only = st.checkbox("This recording only · 仅此录音", value=True, key="rec_log_only")
        st.dataframe(
            queries.recording_access_log(b, ref if only else None),
            hide_index=True,
            width="stretch",
            key="rec_log",
        )
    else:
        st.info("No recording matches. · 没有符合的录音")
        st.subheader("Access log · 访问记录")
        st.dataframe(
            queries.recording_access_log(b), hide_index=True, width="stretch", key="rec_log"
        )
