"""The IVR's data lookups: each on a worker thread, its answer handed back to the loop.

A `Lookup` action names a data source (`bizdata:` in the config) and a key. The
source is a database or an HTTP API (bizdata), so the SIP loop never calls it: a small
pool does, and the record (or None, or the failure) is posted back. A deadline timer on
the loop answers `timeout` for a source that is too slow; whichever comes first is the
answer, and the other is dropped. A key from a sensitive node (an account number, a
PIN) is never written to a log, nor is a failure's text, which may quote it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from controller._ivr_ports import DataSource, Submit
from controller._ports import Cancellable, Later, Post
from ivr import Lookup

__all__ = ["DEFAULT_LOOKUP_DEADLINE_S", "ERROR_TIMEOUT", "LookupDone", "LookupRunner"]

log = logging.getLogger("controller.ivr")

DEFAULT_LOOKUP_DEADLINE_S = 2.0
ERROR_TIMEOUT = "timeout"
ERROR_FAILED = "lookup failed"

# (request id, record or None, error or None), on the loop.
LookupDone = Callable[[int, Mapping[str, Any] | None, str | None], None]


@dataclass(eq=False)
class _Pending:
    cid: str
    lookup: Lookup
    on_done: LookupDone
    timer: Cancellable | None = None


class LookupRunner:
    """Runs lookups for the IVR calls. Loop-owned, except the jobs it submits."""

    def __init__(
        self,
        sources: Mapping[str, DataSource],
        *,
        submit: Submit,
        post: Post,
        later: Later,
        deadline_s: Mapping[str, float] | None = None,
        default_deadline_s: float = DEFAULT_LOOKUP_DEADLINE_S,
        failure_types: tuple[type[BaseException], ...] = (),
    ) -> None:
        """`deadline_s`: per source, else `default_deadline_s`. `failure_types`: the
        exceptions a source raises for an expected failure (`bizdata.DataSourceError`),
        logged at WARNING; any other is a bug, logged with its traceback."""
        self.sources = dict(sources)
        self._submit = submit
        self._post = post
        self._later = later
        self._deadline_s = dict(deadline_s or {})
        self._default_deadline_s = default_deadline_s
        self._failure_types = failure_types
        self._pending: dict[tuple[str, int], _Pending] = {}
        self.counts = {"lookups": 0, "found": 0, "not_found": 0, "errors": 0, "timeouts": 0}

    def start(self, cid: str, lookup: Lookup, on_done: LookupDone) -> None:
        self.counts["lookups"] += 1
        pending = _Pending(cid, lookup, on_done)
        old = self._pending.pop((cid, lookup.request_id), None)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        self._pending[(cid, lookup.request_id)] = pending
        source = self.sources.get(lookup.source)
        if source is None:
            log.error("cid=%s lookup: no data source %r", cid, lookup.source)
            self._post(partial(self._finish, pending, None, f"unknown data source {lookup.source}"))
            return
        deadline = self._deadline_s.get(lookup.source, self._default_deadline_s)
        pending.timer = self._later(deadline, partial(self._timed_out, pending))
        self._submit(partial(self._job, pending, source))

    def cancel(self, cid: str) -> None:
        """The call left the IVR: its answers, when they come, are dropped."""
        for key in [k for k in self._pending if k[0] == cid]:
            pending = self._pending.pop(key)
            if pending.timer is not None:
                pending.timer.cancel()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------ worker thread

    def _job(self, pending: _Pending, source: DataSource) -> None:
        lookup = pending.lookup
        try:
            record = source.lookup(lookup.key)
        except self._failure_types as exc:
            if lookup.sensitive:  # its text may quote the key
                log.warning(
                    "cid=%s lookup in %s failed (%s)",
                    pending.cid,
                    lookup.source,
                    type(exc).__name__,
                )
            else:
                log.warning("cid=%s lookup in %s failed: %s", pending.cid, lookup.source, exc)
            self._post(partial(self._finish, pending, None, ERROR_FAILED))
            return
        except Exception:
            log.error(
                "cid=%s lookup in %s raised; the IVR hears a failure",
                pending.cid,
                lookup.source,
                exc_info=not lookup.sensitive,
            )
            self._post(partial(self._finish, pending, None, ERROR_FAILED))
            return
        self._post(partial(self._finish, pending, None if record is None else dict(record), None))

    # ------------------------------------------------------------ loop

    def _timed_out(self, pending: _Pending) -> None:
        pending.timer = None
        if self._pending.get((pending.cid, pending.lookup.request_id)) is not pending:
            return
        log.warning(
            "cid=%s lookup in %s: no answer within its deadline",
            pending.cid,
            pending.lookup.source,
        )
        self.counts["timeouts"] += 1
        self._deliver(pending, None, ERROR_TIMEOUT)

    def _finish(
        self, pending: _Pending, record: Mapping[str, Any] | None, error: str | None
    ) -> None:
        if self._pending.get((pending.cid, pending.lookup.request_id)) is not pending:
            return  # timed out already, or the call left the IVR
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if error is not None:
            self.counts["errors"] += 1
        elif record is None:
            self.counts["not_found"] += 1
        else:
            self.counts["found"] += 1
        self._deliver(pending, record, error)

    def _deliver(
        self, pending: _Pending, record: Mapping[str, Any] | None, error: str | None
    ) -> None:
        del self._pending[(pending.cid, pending.lookup.request_id)]
        pending.on_done(pending.lookup.request_id, record, error)
