"""The watcher's failure rules, with stand-ins for Kamailio and the ACD (the real ones are
in tests/integration/test_phone_presence.py): a failed read reports nothing; a report
the ACD did not take is made on the next poll."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import grpc
import pytest

from acd_api.v1 import acd_pb2 as pb
from presence import Change, KamailioRpcError
from presence._watcher import Watcher

HERE = Path(__file__).resolve().parent
AGENTS = {"1001": 1001, "1002": 1002}


class Unavailable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection refused"


class Kamailio:
    def __init__(self) -> None:
        self.result: Any = json.loads((HERE / "ul_dump.json").read_text())  # 1001 registered
        self.error: Exception | None = None

    def call(self, method: str, *params: object) -> object:
        assert method == "ul.dump"
        if self.error is not None:
            raise self.error
        return self.result


class Acd:
    def __init__(self, phone_ok: dict[int, bool]) -> None:
        self.phone_ok = phone_ok
        self.down_after: int | None = None  # reports it takes before it goes down
        self.reports: list[tuple[int, bool]] = []

    def get_snapshot(self) -> pb.Snapshot:
        if self.down_after == 0:
            raise Unavailable()
        return pb.Snapshot(
            agents=[pb.AgentView(employee_id=e, phone_ok=ok) for e, ok in self.phone_ok.items()]
        )

    def set_phone_presence(self, r: pb.SetPhonePresenceRequest) -> pb.SetPhonePresenceResponse:
        if self.down_after is not None:
            if self.down_after == 0:
                raise Unavailable()
            self.down_after -= 1
        self.reports.append((r.employee_id, r.reachable))
        self.phone_ok[r.employee_id] = r.reachable
        return pb.SetPhonePresenceResponse()


@pytest.mark.parametrize("failure", [KamailioRpcError("no reply within 5s"), None])
def test_a_failed_read_reports_nobody_unreachable(
    failure: Exception | None, tmp_path: Path
) -> None:
    kamailio, acd = Kamailio(), Acd({1001: True, 1002: True})
    if failure is None:
        kamailio.result = {"Domains": "garbage"}  # a reply of another shape
    else:
        kamailio.error = failure
    status = tmp_path / "presence.json"
    result = Watcher(kamailio, acd, AGENTS, status_file=status).poll()
    assert not result.kamailio_ok and acd.reports == []
    written = json.loads(status.read_text())
    assert written["kamailio_ok"] is False and written["pid"] == os.getpid()


def test_reports_the_acd_missed_are_made_on_the_next_poll() -> None:
    kamailio, acd = Kamailio(), Acd({1001: False, 1002: True})
    acd.down_after = 1  # takes the first report, then goes down
    watcher = Watcher(kamailio, acd, AGENTS)
    first = watcher.poll()
    assert first.reported == (Change(1001, "1001", True),)
    assert (first.acd_ok, first.pending) == (False, 1)
    acd.down_after = 0
    assert watcher.poll() == type(first)(kamailio_ok=True, acd_ok=False, registered=1)
    acd.down_after = None  # back
    assert watcher.poll().reported == (Change(1002, "1002", False),)
    assert acd.reports == [(1001, True), (1002, False)]
    assert watcher.poll().reported == ()  # in line: nothing more to say
