"""Streamlit dashboards: wallboard, historical reports, Erlang C staffing, supervisor
actions. Run with `streamlit run dashboards/app.py`; every data access is in
`dashboards.queries`, which tests point at a small store."""

# The settings file's model is public here, apart from `queries`, so that the CLI which
# writes that file does not load pandas, Streamlit and the statistics client to do so.
from dashboards._settings import DashboardSettings

__all__ = ["DashboardSettings"]
