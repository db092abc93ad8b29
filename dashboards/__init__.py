"""Streamlit dashboards: wallboard, historical reports, Erlang C staffing, supervisor
actions. Run with `streamlit run dashboards/app.py`; every data access is in
`dashboards.queries`, which tests point at a small store."""
