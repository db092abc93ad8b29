"""Erlang C staffing for forecast traffic at a target service level."""

from __future__ import annotations

import streamlit as st

from dashboards import i18n, queries
from dashboards.i18n import fmt_int, fmt_number, t

st.title(t("staff.title"))
b = queries.backend()
with st.expander(t("staff.forecast")):
    queue = st.text_input(t("staff.queue"), key="fc_queue")
    if st.button(t("staff.use_history"), key="fc_use"):
        calls, aht = queries.forecast_from_history(b, queue or None)
        st.session_state["calls"] = round(calls, 1)
        st.session_state["aht"] = round(aht, 1)
c1, c2, c3 = st.columns(3)
calls = c1.number_input(t("staff.calls"), min_value=0.0, value=100.0, key="calls")
interval_min = c2.number_input(t("staff.interval"), min_value=1, value=30, key="interval_min")
aht = c3.number_input(t("staff.aht"), min_value=1.0, value=180.0, key="aht")
c4, c5 = st.columns(2)
target = c4.number_input(t("staff.target"), min_value=0.0, value=b.sl_threshold_s, key="target")
goal = c5.slider(t("staff.goal"), 0.5, 0.99, 0.8, 0.01, key="goal")

needed, table = queries.staffing_table(calls, interval_min * 60.0, aht, target, goal)
traffic = calls * aht / (interval_min * 60.0)
m1, m2 = st.columns(2)
m1.metric(t("staff.traffic"), fmt_number(traffic, 2))
m2.metric(t("staff.needed"), fmt_int(needed))
st.dataframe(
    i18n.styled(table),
    hide_index=True,
    width="stretch",
    column_config=i18n.table_columns(table),
)
chart = table.set_index("agents")[["service_level", "occupancy"]] * 100
st.line_chart(i18n.labelled(chart), x_label=t("col.agents"), y_label="%")
