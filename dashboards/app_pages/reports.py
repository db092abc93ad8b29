"""Historical reports by date range, queue and agent, with charts and CSV export, and
what callers did in the IVR (containment, drop-off per node)."""

from __future__ import annotations

import math
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
st.subheader("IVR")
ivr = queries.ivr_history(b, first, last)
if ivr.calls == 0:
    st.info("No call went through the IVR in this range.")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("IVR calls", ivr.calls)
    c2.metric("Self-served", ivr.self_served)
    rate = "—" if math.isnan(ivr.containment_rate) else f"{ivr.containment_rate:.1%}"
    c3.metric("Containment rate", rate)
    st.caption(
        "Containment per dialled number and flow (the flow's first node): how the IVR "
        "let go of each call. Containment = self-served / IVR calls; to_agent = queued or "
        "transferred; abandoned_in_ivr = the caller hung up in the IVR; other = closed, "
        "voicemail, max time, retries exhausted, error."
    )
    st.table(ivr.containment)
    st.bar_chart(
        ivr.outcomes,
        stack=True,
        horizontal=True,
        sort=False,
        x_label="",
        y_label="calls",
        # self-served, to an agent, abandoned in the IVR, other (IVR_OUTCOMES' order)
        color=["#2e9e5b", "#3b7dd8", "#d9534f", "#a0a4ab"],
    )
    st.caption(
        "Drop-off per node, in flow path order: calls that visited the node, callers "
        "who hung up there, and calls the flow gave up on there (retries exhausted, "
        "maximum time)."
    )
    st.table(ivr.dropoff)
    st.bar_chart(
        ivr.dropoff_bars,
        stack=False,
        horizontal=True,
        sort=False,
        x_label="",
        y_label="calls",
        # visits, caller left, failed (IVR_DROPOFF_BARS' order)
        color=["#a0a4ab", "#d9534f", "#f0ad4e"],
    )
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
