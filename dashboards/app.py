"""Entry point: `streamlit run dashboards/app.py` (HUAAN_DASHBOARD_CONFIG names the
settings file). Pages live in app_pages/; data access in dashboards.queries."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this directory, not the checkout, on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

st.set_page_config(page_title="Huaan Call Center", layout="wide")

_PAGES = Path(__file__).resolve().parent / "app_pages"
page = st.navigation(
    [
        st.Page(
            _PAGES / "wallboard.py", title="Wallboard", icon=":material/monitor:", default=True
        ),
        st.Page(_PAGES / "reports.py", title="Reports", icon=":material/bar_chart:"),
        st.Page(_PAGES / "staffing.py", title="Staffing (Erlang C)", icon=":material/calculate:"),
        st.Page(_PAGES / "supervisor.py", title="Supervisor", icon=":material/shield_person:"),
        st.Page(_PAGES / "recordings.py", title="Recordings", icon=":material/graphic_eq:"),
    ]
)
page.run()
