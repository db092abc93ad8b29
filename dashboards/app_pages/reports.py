"""Historical reports by date range, queue and agent, with charts and CSV export."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards import queries

st.title("Reports")
b = queries.backend()
today = queries.day_start(b).date()
picked = st.date_input("Date range", value=(today - timedelta(days=6), today), key="range")
first, last = picked if isinstance(picked, tuple) and len(picked) == 2 else (today, today)
start, end = queries.date_range(b, first, last)
known = b.reports.report("queue_summary", threshold_s=b.sl_threshold_s, start=start, end=end)
queues = st.multiselect("Queues", sorted(known["queue"].astype(str)), key="queues")
everyone = b.reports.report("agent_summary", start=start, end=end)
agents = st.multiselect("Agents", sorted(everyone["agent"].astype(str)), key="agents")
interval = st.selectbox(
    "Interval",
    [15, 30, 60, 1440],
    index=2,
    key="interval",
    format_func=lambda m: "day" if m == 1440 else f"{m} min",
)

data = queries.history(b, first, last, queues=queues, agents=agents, interval_minutes=int(interval))
st.subheader("Queues")
st.dataframe(data["summary"], hide_index=True, width="stretch")
intervals = data["intervals"]
if len(intervals):
    volume = intervals.pivot_table(
        index="interval_start", columns="queue", values="offered", aggfunc="sum"
    ).fillna(0)
    st.caption("Offered calls per interval")
    st.bar_chart(volume)
    sl = intervals.pivot_table(index="interval_start", columns="queue", values="sl")
    st.caption(f"Service level per interval ({b.sl_threshold_s:g} s)")
    st.line_chart(sl)
st.subheader("Agents")
st.dataframe(data["agents"], hide_index=True, width="stretch")
if len(data["agents"]):
    st.bar_chart(data["agents"].set_index("agent")[["talk_s", "hold_s", "wrapup_s"]])
st.subheader("Calls")
cdrs = data["cdrs"]
st.dataframe(cdrs, hide_index=True, width="stretch")
st.download_button(
    "Download CDRs (CSV)",
    data=queries.csv_bytes(cdrs),
    file_name=f"cdr_{first.isoformat()}_{last.isoformat()}.csv",
    mime="text/csv",
    key="cdr_csv",
)
st.download_button(
    "Download queue summary (CSV)",
    data=queries.csv_bytes(data["summary"]),
    file_name=f"queues_{first.isoformat()}_{last.isoformat()}.csv",
    mime="text/csv",
    key="queue_csv",
)
