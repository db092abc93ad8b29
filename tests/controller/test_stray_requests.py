"""Requests that match nothing at a controller replica get RFC 3261's answers.

A controller is reached through the edge, but a phone or carrier may also send to it
directly (a stale route, a restarted replica): its BYE or CANCEL that matches no
dialog or transaction gets 481, its ACK nothing, and none of it is a warning.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import start_sipp
from testbed import Controller

pytestmark = pytest.mark.integration


def test_stray_bye_and_cancel_get_481_and_a_stray_ack_no_reply(
    workdir: Path, controller: Controller
) -> None:
    run = start_sipp(
        "stray",
        "stray_requests",
        controller.sip,
        workdir=workdir,
        service="95598",
        keys={"caller": "+8613912345678"},
        timeout_s=20,
    )
    assert run.wait(timeout=15) == 0, run.errors()
    assert [line.split()[0:2] for line in run.log_lines()] == [
        ["BYE-IN-DIALOG", "481"],
        ["BYE-NO-TAG", "481"],
        ["CANCEL", "481"],
    ]
    assert controller.cmd("calls") == []
    warnings = [
        line
        for line in controller.log_text().splitlines()
        if " WARNING " in line or " ERROR " in line
    ]
    assert warnings == []
