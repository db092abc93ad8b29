"""The commands on the conferences, in process (sockets on loopback, no mixer process)."""

from __future__ import annotations

import selectors
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixer._bridge import Bridge, Deferred
from mixer._engine import build_plan
from mixer._settings import MixerSettings
from testbed import mixer_config

OFFER = (
    "v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
)


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    node = mixer_config({}, ports=9)
    settings = MixerSettings(
        "test", "127.0.0.1", 0, "127.0.0.1", node["port_min"], node["port_max"], 2, 30.0
    )
    now = [0.0]
    selector = selectors.DefaultSelector()
    bridge = Bridge(settings, selector, clock=lambda: now[0])
    yield bridge
    for _, writer in bridge.close_all():
        writer.abort()
    selector.close()


def run(bridge: Bridge, command: str, **params: Any) -> dict[str, Any]:
    reply = bridge.handle({"command": command, **params})
    if isinstance(reply, Deferred):
        return reply.work()
    return reply


def join(bridge: Bridge, conference: str, slot: str, port: int = 5000, formats: str = "0") -> int:
    reply = run(
        bridge,
        "join",
        conference=conference,
        slot=slot,
        sdp=OFFER.format(port=port, formats=formats),
    )
    assert reply["result"] == "ok", reply
    return int(reply["sdp"].split("m=audio ")[1].split()[0])


def test_rejoin_keeps_the_port_and_takes_the_new_address_and_law(bridge: Bridge) -> None:
    port = join(bridge, "c", "caller", 5000, "0")
    again = join(bridge, "c", "caller", 5002, "8 0")
    assert again == port
    slot = bridge.conferences["c"].slots["caller"]
    assert slot.remote == ("127.0.0.1", 5002) and slot.law == 8
    assert run(bridge, "ping") == {"result": "pong", "conferences": 1, "slots": 1}


def test_leave_frees_the_port_and_drops_the_slot_from_every_hear_list(bridge: Bridge) -> None:
    for slot in ("caller", "agent", "sup:1"):
        join(bridge, "c", slot)
    hears = {"caller": ["agent", "sup:1"], "agent": ["caller"], "sup:1": ["caller", "agent"]}
    assert run(bridge, "hear", conference="c", hears=hears)["result"] == "ok"
    free = bridge.ports.free
    assert run(bridge, "leave", conference="c", slot="sup:1")["result"] == "ok"
    assert bridge.ports.free == free + 1
    assert bridge.conferences["c"].hears == {"caller": ["agent"], "agent": ["caller"]}
    assert run(bridge, "leave", conference="c", slot="agent")["result"] == "ok"
    assert bridge.conferences["c"].hears == {}


def test_a_failed_hear_changes_nothing(bridge: Bridge) -> None:
    join(bridge, "c", "caller")
    join(bridge, "c", "agent")
    run(bridge, "hear", conference="c", hears={"caller": ["agent"]})
    reply = run(bridge, "hear", conference="c", hears={"agent": ["caller"], "caller": ["x"]})
    assert reply["result"] == "error" and "unknown slot 'x'" in reply["error-reason"]
    assert bridge.conferences["c"].hears == {"caller": ["agent"]}


def test_an_exhausted_range_makes_no_conference(bridge: Bridge) -> None:
    for i in range(10):
        join(bridge, "full", f"s{i}")
    reply = run(
        bridge, "join", conference="new", slot="caller", sdp=OFFER.format(port=1, formats="0")
    )
    assert reply["result"] == "error" and "no free port" in reply["error-reason"]
    assert run(bridge, "list")["conferences"] == ["full"]


def test_plan_rows_outputs_and_channels(bridge: Bridge, tmp_path: Path) -> None:
    join(bridge, "a", "caller")
    join(bridge, "a", "agent")
    join(bridge, "b", "caller", formats="8")
    run(bridge, "hear", conference="a", hears={"agent": ["caller"]})
    run(
        bridge,
        "record",
        conference="a",
        file=str(tmp_path / "a.wav"),
        channels=[["caller"], ["agent", "sup:later"]],
    )
    plan = build_plan(bridge.version, list(bridge.conferences.values()))
    assert [s.name for s in plan.slots] == ["caller", "agent", "caller"]
    assert [s.name for s, _ in plan.outputs] == ["agent"]
    assert plan.output_index.tolist() == [[0]]
    assert plan.channel_index.tolist() == [[0], [1]]  # sup:later is not there (yet)
    assert [(start, end) for _, start, end in plan.recordings] == [(0, 2)]
    reply = run(bridge, "stop record", conference="a")
    assert reply["result"] == "ok" and reply["duration_ms"] == 0


def test_statistics_and_idle_expiry(bridge: Bridge, tmp_path: Path) -> None:
    join(bridge, "a", "caller")
    stats = run(bridge, "statistics", conference="a")["slots"]["caller"]
    assert {k: stats[k] for k in ("packets_in", "packets_out", "lost", "late")} == dict.fromkeys(
        ("packets_in", "packets_out", "lost", "late"), 0
    )
    assert list(run(bridge, "statistics")["conferences"]) == ["a"]
    run(bridge, "record", conference="a", file=str(tmp_path / "idle.wav"), channels=[["caller"]])
    conference = bridge.conferences["a"]
    conference.recording.writer.write(np.zeros((160, 1), np.int16))  # type: ignore[union-attr]
    assert bridge.expire(now=29.0) == []
    expired = bridge.expire(now=31.0)
    assert [name for name, _ in expired] == ["a"] and bridge.conferences == {}
    expired[0][1].finish()
    with wave.open(str(tmp_path / "idle.wav")) as w:
        assert (w.getnchannels(), w.getnframes()) == (1, 160)


def test_record_twice_is_refused_and_an_unwritable_file_is_an_error(
    bridge: Bridge, tmp_path: Path
) -> None:
    join(bridge, "a", "caller")
    assert (
        run(bridge, "record", conference="a", file=str(tmp_path / "r.wav"), channels=[["caller"]])[
            "result"
        ]
        == "ok"
    )
    again = run(bridge, "record", conference="a", file=str(tmp_path / "s.wav"), channels=[[]])
    assert "already recording" in again["error-reason"]
    run(bridge, "stop record", conference="a")
    blocked = tmp_path / "file"
    blocked.write_text("")
    reply = run(bridge, "record", conference="a", file=str(blocked / "x.wav"), channels=[[]])
    assert reply["result"] == "error" and "cannot write" in reply["error-reason"]
    assert bridge.conferences["a"].recording is None


def test_two_conferences_cannot_write_one_file(bridge: Bridge, tmp_path: Path) -> None:
    join(bridge, "a", "caller")
    join(bridge, "b", "caller")
    target = str(tmp_path / "one.wav")
    assert run(bridge, "record", conference="a", file=target, channels=[[]])["result"] == "ok"
    reply = run(bridge, "record", conference="b", file=target, channels=[[]])
    assert "being written for 'a'" in reply["error-reason"]
