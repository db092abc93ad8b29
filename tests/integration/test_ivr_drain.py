"""The IVR through the whole edge: `callcenter up` starts two controller replicas with
the IVR (its flows directory beside the config, settings from runtime.json), a
carrier's call goes through Kamailio's dispatcher into a flow, and a drained replica
takes no new call (503 to the dispatcher's probe and to an INVITE that still comes,
which Kamailio fails over) while the other serves them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import Stack, base_config, running_stack, track, wait_until
from tests.controller.ivr.conftest import PROBE

pytestmark = pytest.mark.integration

SERVICE = "95501"


def _cmd(address: str, cmd: str, **args: Any) -> Any:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        with sock.makefile("rb") as reply:
            answer = json.loads(reply.readline())
    assert answer.get("ok"), f"{cmd} {args}: {answer}"
    return answer["result"]


@pytest.fixture(scope="module")
def ivr_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("ivrstack")
    (workdir / "ivr").mkdir()
    (workdir / "ivr" / "probe.yaml").write_text(PROBE)  # ivr.flows_dir: "ivr" by default
    config, passwords = base_config(workdir)
    config["numbers"].append(
        {"number": SERVICE, "category": "self-service", "target": "controller", "ivr": "probe"}
    )
    config["controllers"] = [
        {"sip": f"127.0.0.1:{free_port()}", "control": f"127.0.0.1:{free_port()}"} for _ in range(2)
    ]
    config["sip"]["controller_ping_interval_s"] = 1
    with running_stack(workdir, config, passwords) as running:
        yield running


def _call(stack: Stack, workdir: Path, rtp: RtpEndpoint, name: str) -> SippRun:
    run = start_sipp(
        name,
        "ctl_caller",
        stack.sip,
        workdir=workdir,
        keys={"rtp_port": rtp.port, "cidhdr": "X-Nothing", "cid": "none"},
        service=f"+86{SERVICE}",
        timeout_s=30,
    )
    track(run)
    return run


def _self_served(control: str) -> int:
    return int(_cmd(control, "ivr")["results"].get("retries_exhausted", 0))


def test_calls_go_through_the_flow_and_a_drained_replica_takes_none(
    ivr_stack: Stack, workdir: Path
) -> None:
    a, b = (c.control for c in ivr_stack.config.controllers)
    for control in (a, b):  # each replica loaded the flow from beside the config
        (flow,) = _cmd(control, "ivr")["flows"]
        assert flow["name"] == "probe" and flow["file"].endswith("/ivr/probe.yaml")

    drained = _cmd(a, "drain")
    assert drained["draining"] is True
    rtps = [RtpEndpoint() for _ in range(3)]
    try:
        runs = [
            _call(ivr_stack, workdir / f"c{i}", rtp, f"caller{i}") for i, rtp in enumerate(rtps)
        ]
        for run in runs:  # the flow times out and says goodbye: the replica hangs up
            run.wait_for_log("BYE", timeout=20)
            assert run.wait(timeout=10) == 0, run.errors()
        assert _self_served(b) == 3
        assert _self_served(a) == 0
        status = _cmd(a, "status")
        assert (status["draining"], status["calls"], status["ivr_calls"]) == (True, 0, 0)
    finally:
        for rtp in rtps:
            rtp.close()
        _cmd(a, "drain", on=False)
    wait_until(lambda: _cmd(b, "status")["calls"] == 0, timeout=5, what="no call left on b")
