"""The watcher's loop: every interval read Kamailio's registrations and the ACD's view of
the logged-in agents, and report the differences with SetPhonePresence.

Failures never turn into "everyone is unreachable": when Kamailio's RPC fails the poll
reports nothing; when the ACD fails, the remaining reports are derived again on the
next poll (the decision compares with the ACD's own view, so nothing is lost).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc

from acd_api.v1 import acd_pb2 as pb
from presence._dump import DumpFormatError, registered_users
from presence._fifo import KamailioRpcError
from presence._tracker import Change, changes

__all__ = ["PollResult", "Watcher"]

log = logging.getLogger(__name__)
OK = pb.ERROR_CODE_UNSPECIFIED


class Rpc(Protocol):
    def call(self, method: str, *params: object) -> object: ...


class Acd(Protocol):
    def get_snapshot(self) -> pb.Snapshot: ...

    def set_phone_presence(self, r: pb.SetPhonePresenceRequest) -> pb.SetPhonePresenceResponse: ...


@dataclass(frozen=True)
class PollResult:
    kamailio_ok: bool
    acd_ok: bool
    registered: int = 0
    reported: tuple[Change, ...] = ()
    pending: int = 0  # reports not made because the ACD failed mid-way


class Watcher:
    def __init__(
        self, rpc: Rpc, acd: Acd, agents: Mapping[str, int], *, status_file: Path | None = None
    ) -> None:
        self._rpc = rpc
        self._acd = acd
        self._agents = dict(agents)
        self._status_file = status_file
        # Outages and refusals are logged when they start and end, not every poll.
        self._kamailio_down: str | None = None
        self._acd_down: str | None = None
        self._refusals: dict[int, str] = {}

    def poll(self) -> PollResult:
        result = self._poll()
        self._write_status(result)
        return result

    def run(self, interval: float, stop: threading.Event) -> None:
        """Poll every `interval` seconds (measured start to start) until `stop` is set."""
        log.info("watching %d agent accounts every %gs", len(self._agents), interval)
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception:  # a bug must not end the watcher: log it, poll again
                log.exception("poll failed")
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _poll(self) -> PollResult:
        registered = self._read_registered()
        if registered is None:
            return PollResult(kamailio_ok=False, acd_ok=self._acd_down is None)
        view = self._read_acd_view()
        if view is None:
            return PollResult(kamailio_ok=True, acd_ok=False, registered=len(registered))
        todo = changes(self._agents, registered, view)
        done: list[Change] = []
        for change in todo:
            if not self._report(change):
                return PollResult(
                    kamailio_ok=True,
                    acd_ok=False,
                    registered=len(registered),
                    reported=tuple(done),
                    pending=len(todo) - len(done),
                )
            done.append(change)
        return PollResult(
            kamailio_ok=True, acd_ok=True, registered=len(registered), reported=tuple(done)
        )

    def _read_registered(self) -> frozenset[str] | None:
        try:
            users = registered_users(self._rpc.call("ul.dump"))
        except (KamailioRpcError, DumpFormatError) as exc:
            if self._kamailio_down is None:
                log.error(
                    "cannot read registrations from Kamailio (reporting nothing until "
                    "it answers): %s",
                    exc,
                )
            self._kamailio_down = str(exc)
            return None
        if self._kamailio_down is not None:
            log.warning("Kamailio answers again: %d registered", len(users))
            self._kamailio_down = None
        return users

    def _read_acd_view(self) -> dict[int, bool] | None:
        try:
            snapshot = self._acd.get_snapshot()
        except grpc.RpcError as exc:
            self._acd_failed(exc)
            return None
        self._acd_back()
        return {a.employee_id: a.phone_ok for a in snapshot.agents}

    def _report(self, change: Change) -> bool:
        """One SetPhonePresence; False when the ACD could not be reached (retry next poll)."""
        request = pb.SetPhonePresenceRequest(
            employee_id=change.employee_id, reachable=change.reachable
        )
        try:
            reply = self._acd.set_phone_presence(request)
        except grpc.RpcError as exc:
            self._acd_failed(exc)
            return False
        self._acd_back()
        what = "reachable" if change.reachable else "unreachable"
        if reply.error.code == OK:
            self._refusals.pop(change.employee_id, None)
            log.info("agent %s (employee %d): phone %s", change.username, change.employee_id, what)
        elif reply.error.code == pb.ERROR_CODE_NOT_LOGGED_IN:
            log.debug(
                "agent %s logged out before its phone could be reported %s", change.username, what
            )
        else:
            refusal = f"{pb.ErrorCode.Name(reply.error.code)}: {reply.error.message}"
            if self._refusals.get(change.employee_id) != refusal:
                log.warning("ACD refused phone %s for agent %s: %s", what, change.username, refusal)
            self._refusals[change.employee_id] = refusal
        return True

    def _acd_failed(self, exc: grpc.RpcError) -> None:
        reason = f"{exc.code()}: {exc.details()}"
        if self._acd_down is None:
            log.error("ACD unreachable (retrying every poll): %s", reason)
        self._acd_down = reason

    def _acd_back(self) -> None:
        if self._acd_down is not None:
            log.warning("ACD reachable again")
            self._acd_down = None

    def _write_status(self, result: PollResult) -> None:
        """The status file `callcenter status` reads, replaced atomically."""
        if self._status_file is None:
            return
        status = {
            "pid": os.getpid(),
            "updated": time.time(),
            "kamailio_ok": result.kamailio_ok,
            "acd_ok": result.acd_ok,
            "registered": result.registered,
            "pending": result.pending,
        }
        directory = self._status_file.parent
        try:
            with tempfile.NamedTemporaryFile(
                "w", dir=directory, delete=False, prefix=".presence-", suffix=".tmp"
            ) as out:
                json.dump(status, out)
            os.replace(out.name, self._status_file)
        except OSError as exc:
            log.error("cannot write %s: %s", self._status_file, exc)
