"""Historical reports by date range, queue and agent, with charts and CSV export, and
what callers did in the IVR (containment, drop-off per node), and the supervisors'
monitoring sessions per supervisor and per agent."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards import i18n, queries
from dashboards.i18n import fmt_int, t

st.title(t("rep.title"))
b = queries.backend()
lang = i18n.language()
today = queries.day_start(b).date()
picked = st.date_input(t("rep.range"), value=(today - timedelta(days=6), today), key="range")
first, last = picked if isinstance(picked, tuple) and len(picked) == 2 else (today, today)
start, end = queries.date_range(b, first, last)
known = b.reports.report("queue_summary", threshold_s=b.sl_threshold_s, start=start, end=end)
queues = st.multiselect(
    t("rep.queues"), sorted(known["queue"].astype(str)), key="queues", placeholder=t("rep.all")
)
everyone = b.reports.report("agent_summary", start=start, end=end)
agents = st.multiselect(
    t("rep.agents"), sorted(everyone["agent"].astype(str)), key="agents", placeholder=t("rep.all")
)
interval = st.selectbox(
    t("rep.interval"),
    [15, 30, 60, 1440],
    index=2,
    key="interval",
    format_func=lambda m: (
        t("rep.interval.day") if m == 1440 else t("rep.interval.minutes", minutes=m)
    ),
)


def table(df: object, key: str | None = None) -> None:
    """A report table: human column names, figures for reading, times in our zone."""
    st.dataframe(
        i18n.styled(df),
        hide_index=True,
        width="stretch",
        column_config=i18n.table_columns(df, b.timezone),
        key=key,
    )


data = queries.history(b, first, last, queues=queues, agents=agents, interval_minutes=int(interval))
st.subheader(t("rep.queues"))
table(data["summary"])
intervals = data["intervals"]
if len(intervals):
    volume = intervals.pivot_table(
        index="interval_start", columns="queue", values="offered", aggfunc="sum"
    ).fillna(0)
    st.caption(t("rep.offered_per_interval"))
    st.bar_chart(volume, x_label="", y_label=t("col.offered"))
    sl = intervals.pivot_table(index="interval_start", columns="queue", values="sl") * 100
    threshold = t("unit.seconds", n=f"{b.sl_threshold_s:g}")
    st.caption(t("rep.sl_per_interval", threshold=threshold))
    st.line_chart(sl, x_label="", y_label=t("col.sl"))
st.subheader(t("rep.agents"))
table(data["agents"])
if len(data["agents"]):
    st.bar_chart(
        i18n.labelled(data["agents"].set_index("agent")[["talk_s", "hold_s", "wrapup_s"]]),
        x_label="",
        y_label=t("unit.seconds_axis"),
    )
st.subheader(t("ivr.title"))
ivr = queries.ivr_history(b, first, last)
if ivr.calls == 0:
    st.info(t("ivr.none"))
else:
    c1, c2, c3 = st.columns(3)
    c1.metric(t("ivr.calls"), fmt_int(ivr.calls))
    c2.metric(t("ivr.self_served"), fmt_int(ivr.self_served))
    c3.metric(t("ivr.containment_rate"), ivr.containment_percent)
    st.caption(t("ivr.containment_caption"))
    # The total row's "all" is a word of ours: in the page's language.
    containment = ivr.containment.replace({"dialled": {"all": t("ivr.all")}})
    st.table(i18n.styled(containment, relabel=True), hide_index=True)
    st.bar_chart(
        i18n.labelled(ivr.outcomes),
        stack=True,
        horizontal=True,
        sort=False,
        x_label="",
        y_label=t("ivr.chart_calls"),
        # self-served, to an agent, abandoned in the IVR, other (IVR_OUTCOMES' order)
        color=["#2e9e5b", "#3b7dd8", "#d9534f", "#a0a4ab"],
    )
    st.caption(t("ivr.dropoff_caption"))
    st.table(i18n.styled(ivr.dropoff, relabel=True), hide_index=True)
    st.bar_chart(
        i18n.labelled(ivr.dropoff_bars),
        stack=False,
        horizontal=True,
        sort=False,
        x_label="",
        y_label=t("ivr.chart_calls"),
        # visits, caller left, failed (IVR_DROPOFF_BARS' order)
        color=["#a0a4ab", "#d9534f", "#f0ad4e"],
    )
st.subheader(t("rep.monitor"))
monitoring = queries.monitoring_history(b, first, last)
if not len(monitoring["supervisor"]):
    st.info(t("rep.monitor.none"))
else:
    st.caption(t("rep.monitor.caption"))
    st.caption(t("rep.monitor.by_supervisor"))
    table(monitoring["supervisor"], key="monitor_supervisors")
    st.caption(t("rep.monitor.by_agent"))
    table(monitoring["agent"], key="monitor_agents")
st.subheader(t("rep.calls"))
cdrs = data["cdrs"]
table(cdrs)
st.download_button(
    t("rep.download_cdrs"),
    data=queries.csv_bytes(cdrs),
    file_name=f"cdr_{first.isoformat()}_{last.isoformat()}.csv",
    mime="text/csv",
    key="cdr_csv",
)
st.download_button(
    t("rep.download_summary"),
    data=queries.csv_bytes(data["summary"]),
    file_name=f"queues_{first.isoformat()}_{last.isoformat()}.csv",
    mime="text/csv",
    key="queue_csv",
)
