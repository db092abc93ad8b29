"""Supervisor monitoring's words on the pages (the Supervisor page, the wallboard), in
the session's language (dashboards/i18n.py, keys `mon.*`)."""

from __future__ import annotations

from dashboards.i18n import t

# The marker on a monitored agent's row: a dot, as on a recording light, which every
# font a wall display has can draw (an emoji needs an emoji font).
MONITORED_MARK = "●"


def mode_label(mode: str) -> str:
    """listen, whisper, barge, intercept in words; a mode the ACD added later, as named."""
    try:
        return t(f"mon.mode.{mode}")
    except KeyError:
        return mode


def monitored_text(modes: str) -> str:
    """An agent row's cell from the modes of its live sessions ("listen, barge"): the
    marker and the modes in words; empty for an agent nobody monitors."""
    if not modes:
        return ""
    return f"{MONITORED_MARK} " + ", ".join(mode_label(m) for m in modes.split(", "))
