"""Draining a replica: it stops taking new calls and lets the ones it has run to their end.

The `drain` control command turns it on (`{"cmd": "drain", "on": false}` turns it off).
While it is on, the SIP adapter (`_sip.py`) answers the edge's OPTIONS probe with 503,
so Kamailio's dispatcher marks the replica inactive and sends new calls to its
siblings, and refuses a new INVITE that still comes (sent before the probe noticed)
with 503, which the dispatcher fails over to the next replica. Calls in progress, IVR
calls included, go on to their end; `status` shows `draining` and the calls left, and a
replica with 0 calls can be stopped without losing any.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["DRAINING_RESPONSE", "Drain"]

# The response to OPTIONS and to a new INVITE while draining: the dispatcher fails over
# on 503 (docs/kamailio.md).
DRAINING_RESPONSE = (503, "Draining")


class Drain:
    """On or off, and since when. Set on the SIP loop, read by the SIP adapter there."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.active = False
        self.since: float | None = None
        self.refused = 0  # new INVITEs refused while draining

    def set(self, active: bool) -> dict[str, Any]:
        if active and not self.active:
            self.since = self._clock()
        elif not active:
            self.since = None
        self.active = active
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {"draining": self.active, "since": self.since, "refused": self.refused}
