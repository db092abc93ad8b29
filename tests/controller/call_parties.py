"""Shared pieces of the end-to-end tests of transfer, consult, intercept and originate.

A controller process with agents 1001, 1002 and supervisor 2001, writing its events
to a throwaway redis-server; sipp parties; and the RTP check that the talking pair
hears each other while a released party hears nothing and is heard by nobody.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from eventlog import Event, replay
from simulators import RtpEndpoint, SippRun, start_sipp
from testbed import (
    Controller,
    Rtpengine,
    assert_clean,
    fresh_markers,
    media_of,
    redis_server,
    running_controller,
    track,
    wait_until,
)

CID_HEADER = "X-CC-Correlation-ID"
CALLER = "13912345678"
AGENTS = ("1001", "1002", "2001")  # 2001: the supervisor
NODE = "ctl-xfer"


@pytest.fixture(scope="module")
def events_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    with redis_server(tmp_path_factory.mktemp("xfer-redis")) as port:
        client = redis.Redis(port=port)
        yield client
        client.close()


@pytest.fixture(scope="session")
def hold_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 440 Hz, longer than any consult here: its end is never taken for a stop."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.fail("sox is not installed; run scripts/install")
    path = tmp_path_factory.mktemp("hold") / "hold.wav"
    subprocess.run(
        [
            sox,
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            "20",
            "sine",
            "440",
            "vol",
            "0.5",
        ],
        check=True,
        timeout=30,
    )
    return path


@contextmanager
def controller_logging(
    workdir: Path, engine: Rtpengine, r: redis.Redis, *extra: str
) -> Iterator[tuple[Controller, str]]:
    """The controller with the three agents, writing events to a fresh stream; on exit,
    the `controller` fixture's checks: nothing left anywhere, a clean exit, no traceback."""
    stream = f"cc:events:{secrets.token_hex(4)}"
    kwargs = r.connection_pool.connection_kwargs
    with running_controller(
        workdir,
        engine,
        AGENTS,
        "--redis",
        f"{kwargs['host']}:{kwargs['port']}",
        "--node",
        NODE,
        "--event-stream",
        stream,
        *extra,
    ) as running:
        yield running, stream
        assert_clean(running, engine)
        running.close()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        assert "Traceback" not in running.log_text(), running.log_text()[-3000:]


def caller(
    controller: Controller,
    workdir: Path,
    scenario: str,
    rtp: RtpEndpoint,
    cid: str,
    *,
    pause_ms: int | None = None,
) -> SippRun:
    run = start_sipp(
        "caller",
        scenario,
        controller.sip,
        workdir=workdir,
        keys={"rtp_port": rtp.port, "cidhdr": CID_HEADER, "cid": cid},
        service="95598",
        pause_ms=pause_ms,
        timeout_s=40,
    )
    track(run)
    return run


def party(
    controller: Controller,
    workdir: Path,
    agent: str,
    scenario: str,
    rtp: RtpEndpoint,
    *,
    pause_ms: int = 100,
    keys: dict[str, str] | None = None,
) -> SippRun:
    """A sipp party at the agent's fixed address (`--agents`)."""
    return party_at(
        controller,
        workdir,
        f"agent{agent}",
        controller.agents[agent],
        scenario=scenario,
        rtp=rtp,
        pause_ms=pause_ms,
        keys=keys,
    )


def party_at(
    controller: Controller,
    workdir: Path,
    name: str,
    port: int,
    *,
    scenario: str,
    rtp: RtpEndpoint,
    pause_ms: int = 100,
    keys: dict[str, str] | None = None,
) -> SippRun:
    run = start_sipp(
        name,
        scenario,
        controller.sip,
        workdir=workdir,
        port=port,
        keys={"rtp_port": rtp.port, **(keys or {})},
        pause_ms=pause_ms,
        timeout_s=40,
    )
    track(run)
    return run


def nth_media(run: SippRun, prefix: str, n: int) -> tuple[str, int]:
    """The media address in the `n`-th (1-based) log line starting with `prefix`."""
    return media_of(run.wait_for_log(prefix, count=n)[n - 1])


def talk(
    a: RtpEndpoint,
    a_to: tuple[str, int],
    b: RtpEndpoint,
    b_to: tuple[str, int],
    *,
    released: tuple[tuple[RtpEndpoint, tuple[str, int]], ...] = (),
) -> None:
    """`a` and `b` hear each other; each released or parked party (endpoint, where it
    last sent) hears neither of them, and neither hears it.

    The released parties send first; the exchange behind them through the same
    rtpengine is the barrier that says their packets would have arrived by then.
    """
    marker_a, marker_b, marker_r = fresh_markers()
    for endpoint, dest in released:
        endpoint.send(dest, marker=marker_r, count=20)
    sender = threading.Thread(target=a.send, args=(a_to,), kwargs={"marker": marker_a, "count": 50})
    sender.start()
    b.send(b_to, marker=marker_b, count=50)
    sender.join()
    wait_until(
        lambda: b.received_from(marker_a) >= 48 and a.received_from(marker_b) >= 48,
        timeout=5,
        what=f"RTP both ways ({b.received_from(marker_a)} and {a.received_from(marker_b)} of 50)",
    )
    for endpoint, _ in released:
        assert endpoint.received_from(marker_a) == endpoint.received_from(marker_b) == 0, (
            "a released or parked party hears the conversation"
        )
    assert a.received_from(marker_r) == b.received_from(marker_r) == 0, (
        "a released or parked party is heard"
    )


def call_events(r: redis.Redis, stream: str, cid: str) -> list[tuple[str, dict[str, str]]]:
    """The call's events as (kind, fields), once its call.ended is in the stream."""

    def read() -> list[Event]:
        return [d.event for d in replay(r, stream=stream) if d.event.correlation_id == cid]

    wait_until(
        lambda: any(e.kind == "call.ended" for e in read()),
        timeout=5,
        what=f"call.ended of {cid} in {stream}",
    )
    events = read()
    assert all(e.node == NODE for e in events)
    return [(e.kind, dict(e.data)) for e in events]


def ringing(agent: str, leg: str, attempt: int) -> tuple[str, dict[str, str]]:
    return ("call.ringing", {"agent": agent, "seat": "", "leg_id": leg, "attempt": str(attempt)})


def answered(agent: str, leg: str) -> tuple[str, dict[str, str]]:
    return ("call.answered", {"agent": agent, "seat": "", "leg_id": leg})


def no_answer(agent: str, leg: str) -> tuple[str, dict[str, str]]:
    return ("call.no_answer", {"agent": agent, "leg_id": leg})


def transferred(from_agent: str, to: str, mode: str) -> tuple[str, dict[str, str]]:
    return (
        "call.transferred",
        {"from_agent": from_agent, "to_kind": "agent", "to": to, "mode": mode},
    )


def ended(cause: str, side: str) -> tuple[str, dict[str, str]]:
    return ("call.ended", {"cause": cause, "side": side})


def arrived() -> tuple[str, dict[str, str]]:
    return ("call.arrived", {"trunk": "", "caller": CALLER, "dialled": "95598", "category": ""})
