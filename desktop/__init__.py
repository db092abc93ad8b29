"""The agents' web desktop: an HTTPS app (Starlette on uvicorn) that serves the page,
its softphone bundle and a JSON API over the ACD (login, state, transfers) and the
business data store (screen pop, customer records, complaint tickets).

    python -m desktop --config config/callcenter.yaml     # what `callcenter up` runs

The API, the page's events and the security rules are docs/desktop.md. The launch
helpers load at once (stdlib only); the app and its settings load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configuration import lazy_exports

from ._launch import desktop_argv, desktop_healthy

if TYPE_CHECKING:
    from ._app import create_app
    from ._settings import DesktopSettings, settings_from_config

__all__ = [
    "DesktopSettings",
    "create_app",
    "desktop_argv",
    "desktop_healthy",
    "settings_from_config",
]

_LAZY = {
    "create_app": "_app",
    "DesktopSettings": "_settings",
    "settings_from_config": "_settings",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
