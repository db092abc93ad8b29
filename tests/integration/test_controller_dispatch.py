"""Calls that need a party reach the call controller through Kamailio's dispatcher.

Real Kamailio, two real controller replicas started by `callcenter up`, rtpengine,
Redis and sipp. The edge tags and record-routes the call but anchors no media: the
controller does, in one rtpengine call per call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from callcenter import _process
from eventlog import Event, replay
from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import Stack, artifact_dir, base_config, media_of, running_stack, track, wait_until

pytestmark = pytest.mark.integration

SERVICE = "95500"
CATEGORY = "self-service"


class Control:
    """A client of one replica's line-based control socket."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self._sock: socket.socket | None = None
        self._file: Any = None

    def cmd(self, cmd: str, **args: Any) -> Any:
        if self._sock is None:
            self._sock = socket.create_connection(self.address, timeout=5)
            self._file = self._sock.makefile("rwb")
        self._file.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        self._file.flush()
        reply = json.loads(self._file.readline())
        assert reply.get("ok"), f"{cmd} {args}: {reply}"
        return reply["result"]

    def close(self) -> None:
        if self._sock is not None:
            self._file.close()
            self._sock.close()
            self._sock = None


@pytest.fixture(scope="module")
def controller_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("ctlstack")
    config, passwords = base_config(workdir)
    config["numbers"].append({"number": SERVICE, "category": CATEGORY, "target": "controller"})
    config["controllers"] = [
        {"sip": f"127.0.0.1:{free_port()}", "control": f"127.0.0.1:{free_port()}"} for _ in range(2)
    ]
    config["sip"]["controller_ping_interval_s"] = 1
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as running:
        yield running
        if request.session.testsfailed > failed_before:
            keep = artifact_dir(f"{request.node.nodeid}-stack")
            shutil.copytree(running.layout.logs, keep, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def controls(controller_stack: Stack) -> Iterator[list[Control]]:
    clients = [Control(c.control) for c in controller_stack.config.controllers]
    yield clients
    for client in clients:
        client.close()


def _trunk_call(stack: Stack, workdir: Path, rtp: RtpEndpoint) -> SippRun:
    # The carrier sends its own correlation header: the edge must replace it.
    run = start_sipp(
        "caller",
        "ctl_caller",
        stack.sip,
        workdir=workdir,
        keys={"rtp_port": rtp.port, "cidhdr": "X-CC-Correlation-ID", "cid": "f" * 32},
        service=f"+86{SERVICE}",
        timeout_s=30,
    )
    track(run)
    return run


def _wait_call(controls: list[Control], timeout: float = 10.0) -> tuple[int, str]:
    """(replica index, correlation ID) of the one call that reached a live replica."""
    found: list[tuple[int, str]] = []

    def arrived() -> bool:
        found[:] = [(i, call["cid"]) for i, c in enumerate(controls) for call in c.cmd("calls")]
        return bool(found)

    wait_until(arrived, timeout=timeout, what="the call reaches a controller replica")
    assert len(found) == 1, found
    return found[0]


def _events(stack: Stack, cid: str) -> list[Event]:
    host, _, port = stack.config.redis.listen.rpartition(":")
    client = redis.Redis(host=host, port=int(port), socket_timeout=2)
    try:
        return [d.event for d in replay(client) if d.event.correlation_id == cid]
    finally:
        client.close()


def _assert_clean(stack: Stack, controls: list[Control]) -> None:
    """No call and no rtpengine session left, at the edge or at any replica.

    (Sippy dialogs linger `--dead-linger`, 32 s, to absorb retransmissions; not checked.)
    """

    def clean() -> bool:
        return not stack.rtpengine_calls() and all(
            (s := c.cmd("status"))["calls"] == 0 and s["media_sessions"] == 0 for c in controls
        )

    wait_until(clean, timeout=8, what="no call or rtpengine session left")


def _answer_play_hang_up(
    stack: Stack, controls: list[Control], workdir: Path, tone: Path
) -> tuple[int, str]:
    caller_rtp = RtpEndpoint()
    try:
        caller = _trunk_call(stack, workdir, caller_rtp)
        replica, cid = _wait_call(controls)
        ctl = controls[replica]
        ctl.cmd("answer", cid=cid)
        answered = caller.wait_for_log("ANSWERED", timeout=10)[0]
        # The caller talks to the controller's rtpengine port, not to itself.
        assert media_of(answered)[1] != caller_rtp.port
        ctl.cmd("play", cid=cid, file=str(tone))
        wait_until(
            lambda: (
                sum(1 for _, body in caller_rtp.received if len(body) >= 160 and len(set(body)) > 8)
                >= 50
            ),
            timeout=5,
            what="the caller hears the controller's prompt",
        )
        ctl.cmd("hangup", cid=cid)
        caller.wait_for_log("BYE")
        assert caller.wait(timeout=10) == 0, caller.errors()
    finally:
        caller_rtp.close()
    return replica, cid


def test_callcenter_up_runs_every_replica_with_dead_leg_detection_on(
    controller_stack: Stack, controls: list[Control]
) -> None:
    """The config sets no `timers.dead_leg_timeout_ms`: each running replica checks its
    calls' media with the documented defaults (docs/configuration.md: 30 s, checked every
    10 s), as it reports them and as its command line says."""
    for index, control in enumerate(controls):
        liveness = control.cmd("liveness")
        assert (liveness["enabled"], liveness["rtp_timeout_s"], liveness["check_interval_s"]) == (
            True,
            30.0,
            10.0,
        ), liveness
        pid = _process.read_pid(controller_stack.layout, f"controller{index}")
        assert pid is not None
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert argv[argv.index("--rtp-timeout") + 1] == "30", argv
        assert argv[argv.index("--media-check-interval") + 1] == "10", argv


def test_trunk_call_to_controller_number_is_answered_and_hears_a_prompt(
    controller_stack: Stack,
    controls: list[Control],
    workdir: Path,
    tone: Path,
) -> None:
    stack = controller_stack
    replica, cid = _answer_play_hang_up(stack, controls, workdir, tone)
    # The edge's correlation ID, not the carrier's, reached the controller.
    assert re.fullmatch(r"[0-9a-f]{32}", cid) and cid != "f" * 32
    wait_until(
        lambda: any(e.kind == "call.ended" for e in _events(stack, cid)),
        timeout=5,
        what="the controller logs the call's end",
    )
    (arrived,) = [e for e in _events(stack, cid) if e.kind == "call.arrived"]
    assert arrived.data["category"] == CATEGORY
    assert arrived.data["dialled"] == SERVICE  # normalised at the edge
    assert arrived.data["caller"] == "13912345678"
    assert arrived.node == f"test-ctl{replica}"
    log = stack.kamailio_log()
    assert f"cid={cid}" in log and "to controller" in log
    _assert_clean(stack, controls)


def test_round_robin_spreads_calls_over_both_replicas(
    controller_stack: Stack,
    controls: list[Control],
    workdir: Path,
    tone: Path,
) -> None:
    replicas = {
        _answer_play_hang_up(controller_stack, controls, workdir, tone)[0] for _ in range(2)
    }
    assert replicas == {0, 1}
    _assert_clean(controller_stack, controls)


def test_a_trunk_callers_digits_reach_the_replica_that_owns_the_call(
    controller_stack: Stack, controls: list[Control], workdir: Path
) -> None:
    """`callcenter up` runs rtpengine with TCP ng and its DTMF events: both replicas are
    connected; the owner takes the call's RFC 4733 digits, the other counts them as not
    its call's. Neither rtpengine's log nor the replicas' give a digit away."""
    for control in controls:
        assert control.cmd("dtmf")["rtpengine"]["connected"] is True
    caller_rtp = RtpEndpoint()
    try:
        caller = _trunk_call(controller_stack, workdir, caller_rtp)
        replica, cid = _wait_call(controls)
        owner, other = controls[replica], controls[1 - replica]
        before = [owner.cmd("dtmf"), other.cmd("dtmf")]
        owner.cmd("answer", cid=cid)
        media = media_of(caller.wait_for_log("ANSWERED", timeout=10)[0])
        caller_rtp.send_dtmf(media, "2580", interval_s=0.005)
        wait_until(
            lambda: (
                owner.cmd("dtmf")["delivered"] - before[0]["delivered"] == 4
                and other.cmd("dtmf")["dropped_unknown_call"] - before[1]["dropped_unknown_call"]
                == 4
            ),
            timeout=5,
            what="4 digits at the owner, 4 dropped at the other replica",
        )
        assert other.cmd("dtmf")["delivered"] == before[1]["delivered"]
        owner.cmd("hangup", cid=cid)
        caller.wait_for_log("BYE")
        assert caller.wait(timeout=10) == 0, caller.errors()
    finally:
        caller_rtp.close()
    layout = controller_stack.layout
    for name in ("rtpengine0", "controller0", "controller1"):
        text = layout.log_file(name).read_text(errors="replace")
        assert not re.search(r"DTMF event packet|DTMF DSP|onDTMF|\"event\"\s*:|Signal=", text)
    _assert_clean(controller_stack, controls)


def test_killed_replica_new_calls_go_to_the_other(
    controller_stack: Stack,
    controls: list[Control],
    workdir: Path,
    tone: Path,
) -> None:
    """Runs last in this module: it leaves replica 0 dead."""
    stack = controller_stack
    pid = _process.read_pid(stack.layout, "controller0")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _process.is_alive(pid), timeout=5, what="replica 0 is gone")
    controls[0].close()
    alive = [controls[1]]
    # Round-robin would give replica 0 one of these calls unless a probe has already
    # marked it inactive; either way the caller is answered by replica 1.
    for _ in range(3):
        caller_rtp = RtpEndpoint()
        try:
            caller = _trunk_call(stack, workdir, caller_rtp)
            _, cid = _wait_call(alive, timeout=10)
            alive[0].cmd("answer", cid=cid)
            caller.wait_for_log("ANSWERED", timeout=10)
            alive[0].cmd("hangup", cid=cid)
            caller.wait_for_log("BYE")
            assert caller.wait(timeout=10) == 0, caller.errors()
        finally:
            caller_rtp.close()
    # A probe (every second) has found replica 0 dead by now.
    wait_until(
        lambda: "sip:" + stack.config.controllers[0].sip in _inactive(stack),
        timeout=5,
        what="dispatcher marks the killed replica inactive",
    )
    _assert_clean(stack, alive)


def _inactive(stack: Stack) -> str:
    """The destinations Kamailio's dispatcher lists with an inactive flag."""
    text = subprocess.run(
        ["kamcmd", "-s", f"unix:{stack.layout.kamailio_ctl}", "dispatcher.list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    entries = re.findall(r"URI: (sip:\S+)\s+FLAGS: (\w+)", text)
    return " ".join(uri for uri, flags in entries if flags.startswith("I"))
