"""The agents' web desktop: an HTTPS app (Starlette on uvicorn) that serves the page,
its softphone bundle and a JSON API over the ACD (login, state, transfers) and the
business data store (screen pop, customer records, complaint tickets).

    python -m desktop --config config/callcenter.yaml     # what `callcenter up` runs

The API, the page's events and the security rules are docs/desktop.md.
"""

__all__: list[str] = []
