"""Erlang C staffing for forecast traffic at a target service level."""

from __future__ import annotations

import streamlit as st

from dashboards import queries

st.title("Staffing (Erlang C)")
b = queries.backend()
with st.expander("Forecast from the last 7 days"):
    queue = st.text_input("Queue (empty: all)", key="fc_queue")
    if st.button("Use history", key="fc_use"):
        calls, aht = queries.forecast_from_history(b, queue or None)
        st.session_state["calls"] = round(calls, 1)
        st.session_state["aht"] = round(aht, 1)
c1, c2, c3 = st.columns(3)
calls = c1.number_input("Calls per interval", min_value=0.0, value=100.0, key="calls")
interval_min = c2.number_input("Interval (min)", min_value=1, value=30, key="interval_min")
aht = c3.number_input("AHT (s)", min_value=1.0, value=180.0, key="aht")
c4, c5 = st.columns(2)
target = c4.number_input("Answer within (s)", min_value=0.0, value=b.sl_threshold_s, key="target")
goal = c5.slider("Service level goal", 0.5, 0.99, 0.8, 0.01, key="goal")

needed, table = queries.staffing_table(calls, interval_min * 60.0, aht, target, goal)
traffic = calls * aht / (interval_min * 60.0)
m1, m2 = st.columns(2)
m1.metric("Traffic (Erlang)", f"{traffic:.2f}")
m2.metric("Agents needed", needed)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "service_level": st.column_config.NumberColumn(format="percent"),
        "p_wait": st.column_config.NumberColumn(format="percent"),
        "occupancy": st.column_config.NumberColumn(format="percent"),
        "asa_s": st.column_config.NumberColumn("ASA (s)", format="%.1f"),
    },
)
st.line_chart(table.set_index("agents")[["service_level", "occupancy"]])
