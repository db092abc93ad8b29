"""A controller process on its own, for its tests and benchmarks: rtpengine, the
controller, and RTP exchanged through them."""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import RtpengineNg
from rtpengine import NgClient
from simulators import RtpEndpoint, free_port
from testbed._paths import ROOT
from testbed._waiting import wait_until


@dataclass
class Rtpengine:
    ng_port: int  # UDP for requests, TCP for the DTMF events it pushes
    process: subprocess.Popen[bytes]
    log: Path
    port_base: int = 0  # its media ports: port_base to port_base + ports - 1
    ports: int = 200

    def client(self) -> RtpengineNg:
        return RtpengineNg("127.0.0.1", self.ng_port, timeout=1.0)


@contextmanager
def running_rtpengine(
    workdir: Path,
    *,
    ng_port: int = 0,
    port_base: int = 0,
    ports: int = 200,
    recording_dir: Path | None = None,
) -> Iterator[Rtpengine]:
    """rtpengine on loopback: ng on `ng_port` (default: a free one) over UDP and, for its
    DTMF events, over TCP (docs/rtpengine.md). Give the ports of an earlier run to
    restart it where its clients expect it. `ports`: the size of its media port range
    (a benchmark with hundreds of calls needs more than 200). `recording_dir`: `start
    recording` writes pcap segments there (the recorder's spool, docs/recording.md)."""
    binary = shutil.which("rtpengine")
    if binary is None:
        raise FileNotFoundError("rtpengine is not installed; run scripts/install")
    ng_port = ng_port or free_port()
    # Below the ephemeral range, like stack.py.
    base = port_base or 20000 + secrets.randbelow(60) * 200
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "rtpengine.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                binary,
                "--config-file=none",
                "--foreground",
                "--table=-1",
                "--interface=127.0.0.1",
                f"--listen-ng=127.0.0.1:{ng_port}",
                # The same port over TCP: DTMF events go to every client connected there.
                f"--listen-tcp-ng=127.0.0.1:{ng_port}",
                "--dtmf-log-ng-tcp",
                f"--port-min={base}",
                f"--port-max={base + ports - 1}",
                "--timeout=30",
                "--delete-delay=0",
                "--log-stderr",
                "--log-level=6",
                "--no-fallback",
                *(
                    [
                        "--recording-method=pcap",
                        "--recording-format=raw",
                        f"--recording-dir={recording_dir}",
                    ]
                    if recording_dir is not None
                    else []
                ),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    engine = Rtpengine(ng_port, process, log, base, ports)
    # A plain client: the controller's (RtpengineNg) takes a refused first ping for a
    # dead node and fails every request for 5 s, which made each start take 5 s.
    client = NgClient("127.0.0.1", ng_port, timeout=1.0)
    try:
        wait_until(
            lambda: process.poll() is not None or client.ping(),
            timeout=15,
            what="rtpengine answers an ng ping",
        )
        assert process.poll() is None, log.read_text(errors="replace")[-2000:]
        yield engine
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ControlError(AssertionError):
    pass


@dataclass
class Controller:
    process: subprocess.Popen[bytes]
    sip: str
    control: tuple[str, int]
    log: Path
    agents: dict[str, int]
    _sock: socket.socket | None = field(default=None, repr=False)
    _file: Any = field(default=None, repr=False)

    def cmd(self, cmd: str, **args: Any) -> Any:
        reply = self.try_cmd(cmd, **args)
        if not reply.get("ok"):
            raise ControlError(f"{cmd} {args}: {reply.get('error')}")
        return reply["result"]

    def try_cmd(self, cmd: str, **args: Any) -> dict[str, Any]:
        if self._sock is None:
            self._sock = socket.create_connection(self.control, timeout=5)
            self._file = self._sock.makefile("rwb")
        self._file.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        self._file.flush()
        reply: dict[str, Any] = json.loads(self._file.readline())
        return reply

    def call(self, cid: str) -> dict[str, Any] | None:
        for call in self.cmd("calls"):
            if call["cid"] == cid:
                return dict(call)
        return None

    def wait_state(self, cid: str, state: str, timeout: float = 5.0) -> dict[str, Any]:
        """The call in `state` with no re-INVITE outstanding on any leg: only then has
        the media moved for every party (a bridge re-points the caller with one)."""

        def settled() -> bool:
            call = self.call(cid) or {}
            return call.get("state") == state and not any(
                leg.get("updating") for leg in call.get("legs", ())
            )

        wait_until(
            settled,
            timeout=timeout,
            what=f"call {cid} settled in state {state} (now {self.call(cid)})",
        )
        call = self.call(cid)
        assert call is not None
        return call

    def wait_new_call(self, timeout: float = 5.0) -> dict[str, Any]:
        wait_until(lambda: self.cmd("calls"), timeout=timeout, what="a call reaches the controller")
        calls = self.cmd("calls")
        assert len(calls) == 1, calls
        return dict(calls[0])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self._sock is not None:
            self._file.close()
            self._sock.close()
            self._sock = None


@contextmanager
def running_controller(
    workdir: Path,
    engine: Rtpengine | str,
    agents: tuple[str, ...] = (),
    *extra: str,
    sip_port: int = 0,
    module: str = "controller",
) -> Iterator[Controller]:
    """A controller replica on `sip_port` (default: a free one); `engine` is the test's
    rtpengine or the ng HOST:PORT of another one (a stack's). `module` is what
    `python -m` runs: a test's own entry point that wraps the controller's `main`."""
    sip_port = sip_port or free_port()
    ng = engine if isinstance(engine, str) else f"127.0.0.1:{engine.ng_port}"
    agent_ports = {agent: free_port() for agent in agents}
    log = workdir / "controller.log"
    argv = [
        sys.executable,
        "-m",
        module,
        "--sip",
        f"127.0.0.1:{sip_port}",
        "--rtpengine",
        ng,
        "--control",
        "127.0.0.1:0",
        "--agents",
        ",".join(f"{a}=127.0.0.1:{p}" for a, p in agent_ports.items()),
        "--dead-linger",
        "0.5",
        "--log-level",
        "DEBUG",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    with open(log, "wb") as err:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env)
    assert process.stdout is not None
    deadline = time.monotonic() + 15
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            process.kill()
            process.wait()
            process.stdout.close()
            raise AssertionError(f"controller did not start:\n{log.read_text()[-3000:]}")
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            line += process.stdout.read1(1024)  # type: ignore[attr-defined]
    found = re.search(rb"control=([0-9.]+):(\d+)", line)
    assert found, line
    controller = Controller(
        process,
        f"127.0.0.1:{sip_port}",
        (found.group(1).decode(), int(found.group(2))),
        log,
        agent_ports,
    )
    try:
        yield controller
    finally:
        controller.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


# What `status` counts that a controller with no call left has none of.
_CLEAN_COUNTS = ("calls", "media_sessions", "dialogs", "sip_consumers", "ivr_calls")


def _counts(status: dict[str, Any]) -> dict[str, Any]:
    return {name: status.get(name) for name in _CLEAN_COUNTS}


def assert_clean(controller: Controller, engine: Rtpengine, timeout: float = 6.0) -> None:
    """No calls, no Sippy dialogs, no transaction consumers, no rtpengine sessions left."""
    client = engine.client()
    try:
        wait_until(
            lambda: (
                _counts(controller.cmd("status")) == dict.fromkeys(_CLEAN_COUNTS, 0)
                and not client.list_calls()
            ),
            timeout=timeout,
            what=f"clean teardown (status {controller.cmd('status')})",
        )
    finally:
        client.close()


def non_silent(endpoint: RtpEndpoint) -> int:
    """Received packets whose payload varies like a tone (G.711 silence is constant)."""
    return sum(1 for _, body in endpoint.received if len(body) >= 160 and len(set(body)) > 8)


def media_of(line: str) -> tuple[str, int]:
    found = re.search(r"media=([0-9.]+):(\d+)", line)
    assert found, line
    return found.group(1), int(found.group(2))


_EXCHANGES = itertools.count(secrets.randbelow(100))


def fresh_markers() -> tuple[int, int, int]:
    """Audio markers for one exchange: (side a, side b, released parties), in 1-100,
    101-200 and 201-250.

    An endpoint counts every packet it ever received (`RtpEndpoint.received_from`),
    so a marker an earlier exchange used on the same endpoints would count that
    exchange's packets as this one's: random markers made a released agent "hear"
    the caller once in 100 runs, with its audio from before the intercept. Markers
    from one counter differ from those of the previous 49 exchanges in this process.
    """
    n = next(_EXCHANGES)
    return 1 + n % 100, 101 + n % 100, 201 + n % 50


def exchange(
    a: RtpEndpoint, a_to: tuple[str, int], b: RtpEndpoint, b_to: tuple[str, int], count: int = 50
) -> tuple[int, int]:
    """Send `count` packets each way at once; return (b got a's audio, a got b's audio)."""
    marker_a, marker_b, _ = fresh_markers()
    sender = threading.Thread(
        target=a.send, args=(a_to,), kwargs={"marker": marker_a, "count": count}
    )
    sender.start()
    b.send(b_to, marker=marker_b, count=count)
    sender.join()
    wait_until(
        lambda: (
            b.received_from(marker_a) >= count * 0.95 and a.received_from(marker_b) >= count * 0.95
        ),
        timeout=5,
        what="RTP through rtpengine both ways",
    )
    return b.received_from(marker_a), a.received_from(marker_b)
