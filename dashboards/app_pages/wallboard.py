"""Real-time wallboard: agents (● and the mode on one a supervisor monitors), queues,
today's SL and abandon rate (refresh 2 s), in
large type for a wall display; a service level below the configured target and a wait
above the configured limit are shown in red (dashboards.service_level_target_pct,
longest_wait_alert_s)."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from dashboards import i18n, queries
from dashboards.app_pages._monitoring import monitored_text
from dashboards.i18n import fmt_duration, fmt_int, fmt_pct, t

# Large type for a wall display: the figures and both tables (st.table is HTML, so
# the CSS reaches it; st.dataframe's canvas would not).
# Streamlit cuts a long metric with an ellipsis; on a wall it wraps instead, and the
# type grows with the screen.
WALL_CSS = """<style>
[data-testid="stMetricValue"] { font-size: clamp(1.8rem, 2.6vw, 5rem); font-weight: 700; }
[data-testid="stMetricLabel"] p { font-size: clamp(1rem, 1.3vw, 2rem); }
[data-testid="stMetricDelta"] { font-size: clamp(0.9rem, 1.1vw, 1.6rem); }
[data-testid="stMetric"] * { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
[data-testid="stTable"] table { font-size: clamp(1.1rem, 1.5vw, 2.4rem); }
[data-testid="stTable"] th { font-size: clamp(1rem, 1.2vw, 2rem); }
</style>"""
ALERT_CSS = "background-color: #d9534f; color: white; font-weight: 700"
OK_CSS = "background-color: #2e9e5b; color: white"


def _sl_css(target: float) -> Any:
    def css(value: object) -> str:
        ratio = float(value)  # type: ignore[arg-type]
        if math.isnan(ratio):
            return ""
        return ALERT_CSS if ratio < target else OK_CSS

    return css


def _source(source: str) -> str:
    """The live view's source (dashboards/_live.py) in words."""
    if source.startswith("ACD"):
        return t("wb.source.acd", node=source[3:].strip())
    return {"event log": t("wb.source.event_log"), "none": t("wb.source.none")}.get(source, source)


def _wait_css(limit_s: float) -> Any:
    return lambda value: ALERT_CSS if float(value) > limit_s else ""


st.title(t("wb.title"))
st.html(WALL_CSS)


@st.fragment(run_every=queries.REFRESH_S)
def live() -> None:
    b = queries.backend()
    board = queries.wallboard(b)
    target = b.service_level_target_pct / 100
    limit_s = b.longest_wait_alert_s
    for kind, detail in board.problems:
        st.warning(t(f"wb.problem.{kind}", detail=detail))
    waiting = int(board.queues["waiting"].sum()) if len(board.queues) else 0
    longest = float(board.queues["longest_wait_s"].max()) if len(board.queues) else 0.0
    c1, c2, c3, c4, c5 = st.columns(5)
    sl_delta = None
    if not math.isnan(board.sl):
        # Points above (+, green) or below (-, red) the target.
        sl_delta = t(
            "wb.sl_vs_target", diff=f"{(board.sl - target) * 100:+.1f}", target=fmt_pct(target)
        )
    c1.metric(
        t("wb.sl_today", threshold=t("unit.seconds", n=f"{b.sl_threshold_s:g}")),
        fmt_pct(board.sl),
        delta=sl_delta,
        border=True,
    )
    c2.metric(t("wb.abandon_today"), fmt_pct(board.abandon_rate), border=True)
    c3.metric(t("wb.waiting"), fmt_int(waiting), border=True)
    over = None
    if longest > limit_s:
        over = t(
            "wb.over_limit",
            over=fmt_duration(longest - limit_s, i18n.language()),
            limit=fmt_duration(limit_s, i18n.language()),
        )
    # inverse: a wait over the limit (a positive delta) is red.
    c4.metric(
        t("wb.longest"),
        fmt_duration(longest, i18n.language()),
        delta=over,
        delta_color="inverse",
        border=True,
    )
    c5.metric(t("wb.agents_in"), fmt_int(len(board.agents)), border=True)
    st.subheader(t("wb.queues"))
    st.table(
        i18n.styled(
            board.queues,
            relabel=True,
            cell_css={"sl_today": _sl_css(target), "longest_wait_s": _wait_css(limit_s)},
        ),
        hide_index=True,
    )
    st.subheader(t("wb.agents"))
    # A supervisor listening, whispering or barging in: ● and the mode.
    agents = board.agents.assign(monitored=board.agents["monitored"].map(monitored_text))
    st.table(i18n.styled(agents, relabel=True), hide_index=True)
    lang = i18n.language()
    st.caption(
        t(
            "wb.footer",
            source=_source(board.source),
            offered=fmt_int(board.offered),
            answered=fmt_int(board.answered),
            refresh=t("unit.seconds", n=f"{queries.REFRESH_S:g}"),
            target=fmt_pct(target),
            limit=fmt_duration(limit_s, lang),
        )
    )


live()
