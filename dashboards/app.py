"""Entry point: `streamlit run dashboards/app.py` (HUAAN_DASHBOARD_CONFIG names the
settings file). Pages live in app_pages/; data access in dashboards.queries; every text
comes from dashboards.i18n in the session's language (the sidebar's switch)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this directory, not the checkout, on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from dashboards import i18n, queries  # noqa: E402  (after the path fix above)
from dashboards.i18n import t  # noqa: E402

b = queries.backend()
i18n.start_session(b.language)
st.set_page_config(page_title=t("app.title"), layout="wide")
i18n.language_switch(b.preferences)

_PAGES = Path(__file__).resolve().parent / "app_pages"
# url_path by hand: the titles change with the language, the addresses must not.
page = st.navigation(
    [
        st.Page(
            _PAGES / "wallboard.py",
            title=t("nav.wallboard"),
            icon=":material/monitor:",
            url_path="wallboard",
            default=True,
        ),
        st.Page(
            _PAGES / "reports.py",
            title=t("nav.reports"),
            icon=":material/bar_chart:",
            url_path="reports",
        ),
        st.Page(
            _PAGES / "staffing.py",
            title=t("nav.staffing"),
            icon=":material/calculate:",
            url_path="staffing",
        ),
        st.Page(
            _PAGES / "supervisor.py",
            title=t("nav.supervisor"),
            icon=":material/shield_person:",
            url_path="supervisor",
        ),
        st.Page(
            _PAGES / "recordings.py",
            title=t("nav.recordings"),
            icon=":material/graphic_eq:",
            url_path="recordings",
        ),
    ]
)
page.run()
