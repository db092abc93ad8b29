"""Recordings: search by call ID, agent, number and date range; play a recording (the
viewer's role checked, every playback written to the access log); legal hold on and
off (logged as hold / release); the access log. Status, pauses and failures are in the
table. Supervisors and admins only (docs/recording.md)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboards import i18n, queries
from dashboards.app_pages._login import login_form
from dashboards.i18n import t


def refused(exc: queries.RecordingRefused) -> str:
    key = (
        "rec.reason.not_configured"
        if exc.reason == "not_configured"
        else f"login.reason.{exc.reason}"
    )
    return t("rec.refused", reason=t(key, user=exc.username))


def table(df: pd.DataFrame, key: str) -> None:
    st.dataframe(
        i18n.styled(df),
        hide_index=True,
        width="stretch",
        key=key,
        column_config=i18n.table_columns(df),
    )


st.title(t("rec.title"))
b = queries.backend()
who = login_form(b, queries.authenticate_for_recordings, read_only=t("rec.read_only"))

if who is not None:
    if b.recordings is None:
        st.warning(t("rec.not_configured"))
        st.stop()
    today = queries.day_start(b).date()
    c1, c2, c3 = st.columns(3)
    call_id = c1.text_input(t("rec.call_id"), key="rec_call_id")
    agent = c2.text_input(t("rec.agent"), key="rec_agent")
    number = c3.text_input(t("rec.number"), key="rec_number")
    picked = st.date_input(
        t("rec.range"), value=(today - timedelta(days=6), today), key="rec_range"
    )
    first, last = picked if isinstance(picked, tuple) and len(picked) == 2 else (today, today)
    found = queries.search_recordings(
        b, call_id=call_id, agent=agent, number=number, first=first, last=last
    )
    st.caption(t("rec.count", count=i18n.fmt_int(len(found))))
    table(found, "rec_table")
    if len(found):
        rows = found.set_index("ref")
        status = {
            s: i18n.t(f"rec.status.{s}") if f"rec.status.{s}" in i18n.CATALOG else s
            for s in rows["status"]
        }
        labels = {
            ref: f"{row['started_at'][:19]} · {row['call_id']} · {row['agent'] or '—'}"
            f" · {i18n.value_text('status', row['status'])}"
            for ref, row in rows.iterrows()
        }
        ref = str(
            st.selectbox(
                t("rec.recording"), list(labels), format_func=labels.__getitem__, key="rec_ref"
            )
        )
        row = rows.loc[ref]
        if row["failure"]:
            st.error(
                t(
                    "rec.failed",
                    failure=i18n.value_text("failure", row["failure"]),
                    status=i18n.value_text("status", row["status"]),
                )
            )
        if row["pauses"]:
            st.caption(t("rec.paused", pauses=i18n.value_text("pauses", row["pauses"])))
        p1, p2 = st.columns(2)
        if p1.button(t("rec.play"), key="rec_play"):
            try:
                st.audio(queries.play_recording(b, who, ref), format="audio/wav")
            except queries.RecordingRefused as exc:
                st.error(refused(exc))
            except queries.RecordingFileMissing as exc:
                st.error(t("rec.no_file", detail=exc))
        held = bool(row["legal_hold"])
        if p2.button(t("rec.release") if held else t("rec.hold"), key="rec_hold"):
            try:
                queries.set_legal_hold(b, who, ref, not held)
                st.session_state["rec_done"] = t("rec.released" if held else "rec.held", ref=ref)
                st.rerun()
            except queries.RecordingRefused as exc:
                st.error(refused(exc))
        if (done := st.session_state.pop("rec_done", None)) is not None:
            st.success(done)
        st.subheader(t("rec.access_log"))
        only = st.checkbox(t("rec.this_only"), value=True, key="rec_log_only")
        table(queries.recording_access_log(b, ref if only else None), "rec_log")
    else:
        st.info(t("rec.none"))
        st.subheader(t("rec.access_log"))
        table(queries.recording_access_log(b), "rec_log")
