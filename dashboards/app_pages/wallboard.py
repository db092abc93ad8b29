"""Real-time wallboard: agents (a monitored one marked with the mode), queues, today's
SL and abandon rate (refresh 2 s)."""

from __future__ import annotations

import math

import streamlit as st

from dashboards import i18n, queries
from dashboards.app_pages._monitoring import monitored_text


def _pct(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1%}"


st.title("Wallboard")


@st.fragment(run_every=queries.REFRESH_S)
def live() -> None:
    b = queries.backend()
    board = queries.wallboard(b)
    for problem in board.problems:
        st.warning(problem)
    waiting = int(board.queues["waiting"].sum()) if len(board.queues) else 0
    longest = float(board.queues["longest_wait_s"].max()) if len(board.queues) else 0.0
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric(f"SL today ({b.sl_threshold_s:g} s)", _pct(board.sl))
    c2.metric("Abandon rate today", _pct(board.abandon_rate))
    c3.metric("Waiting now", waiting)
    c4.metric("Longest wait", f"{longest:.0f} s")
    c5.metric("Agents logged in", len(board.agents))
    st.subheader("Queues")
    st.dataframe(
        board.queues,
        hide_index=True,
        width="stretch",
        column_config={
            "sl_today": st.column_config.NumberColumn("SL today", format="percent"),
            "abandon_rate_today": st.column_config.NumberColumn("abandoned", format="percent"),
            "longest_wait_s": st.column_config.NumberColumn("longest wait (s)", format="%.0f"),
        },
    )
    st.subheader("Agents")
    st.dataframe(
        # A supervisor listening, whispering or barging in: 🎧 and the mode.
        board.agents.assign(monitored=board.agents["monitored"].map(monitored_text)),
        hide_index=True,
        width="stretch",
        column_config={
            "time_in_state_s": st.column_config.NumberColumn("time in state (s)", format="%.0f"),
            "monitored": st.column_config.TextColumn(i18n.column_label("monitored")),
        },
    )
    st.caption(
        f"live source: {board.source} · offered today {board.offered}, "
        f"answered {board.answered} · refresh every {queries.REFRESH_S:g} s"
    )


live()
