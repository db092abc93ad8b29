"""Music on hold and position announcements for a caller waiting in an ACD queue.

Every process is real (conftest.py): the ACD replica, Redis, rtpengine, the controller
(with `--prompt-cache`), sipp for the caller and the agent's phone. What the caller
hears is read from the RTP its endpoint receives from rtpengine, decoded from G.711
mu-law: the music peaks at -18 dBFS and the announcements at -3 dBFS
(docs/prompts.md), so a packet's peak tells them apart without any timing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from acd_api.v1 import acd_pb2 as pb
from simulators import RtpEndpoint, ulaw_to_linear
from testbed import Rtpengine, exchange, media_of, non_silent, wait_until
from tests.controller.acd_driver.conftest import OK, QUEUE, Rig, caller_call_id, new_cid, trigger

# Announcements fast enough for a test: the first 2 s after parking (a second after the
# music, which starts 1 s after parking by default), then every 6 s.
FAST = ("--announce-first", "2", "--announce-every", "6")
LOUD = 12_000  # a 20 ms packet peaking above -8.7 dBFS: speech (prompts peak at -3 dBFS)
QUIET = 8_000  # the music never peaks above -18 dBFS (about 4,100)


_ULAW = [ulaw_to_linear(b) for b in range(256)]


def heard(rtp: RtpEndpoint) -> list[str]:
    """Each received packet as "loud" (an announcement), "music" or "silence"."""
    kinds = []
    for _, body in list(rtp.received):
        peak = max((abs(_ULAW[b]) for b in body), default=0)
        if peak >= LOUD:
            kinds.append("loud")
        elif len(body) >= 160 and len(set(body)) > 8 and peak < QUIET:
            kinds.append("music")
        else:
            kinds.append("silence")
    return kinds


def music_announcement_music(rtp: RtpEndpoint) -> bool:
    """At least half a second of music, then an announcement, then music again."""
    kinds = heard(rtp)
    if "loud" not in kinds:
        return False
    first = kinds.index("loud")
    last = len(kinds) - 1 - kinds[::-1].index("loud")
    return (
        kinds[:first].count("music") >= 25
        and kinds[first : last + 1].count("loud") >= 10
        and kinds[last:].count("music") >= 25
    )


def media_commands(engine: Rtpengine) -> dict[str, int]:
    """rtpengine's own count of `play media` and `stop media` requests so far."""
    client = engine.client()
    try:
        control = client.request("statistics")["statistics"]["controlstatistics"]
    finally:
        client.close()
    return {name: int(control[f"total{name}count"]) for name in ("playmedia", "stopmedia")}


def announced(log: str, cid: str) -> list[tuple[datetime, str]]:
    """(when, text) of the announcements the controller played to `cid`."""
    pattern = re.compile(
        rf"^(\S+ \S+) INFO controller\.queue_media cid={cid} announcement "
        r"\(position \d+, expected wait [^)]*\): (.*)$",
        re.M,
    )
    return [
        (datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"), m.group(2))
        for m in pattern.finditer(log)
    ]


def test_waiting_caller_hears_music_and_announcements_then_only_the_agent(
    rig: Rig, workdir: Path
) -> None:
    """Mandarin, the product's default. The caller waits (1001 not ready): music, the
    announcement "you are next" at the interval, music again; then 1001 is ready, the
    phone rings and answers: the caller hears the agent and nothing else."""
    agents = rig.agents("1001", busy=("1001",))
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    cid = new_cid()
    before = media_commands(rig.engine)
    with rig.controller("--prompt-cache", str(workdir / "prompts"), *FAST) as controller:
        caller = rig.caller(controller, cid)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        # The product's default: the music starts once the caller has waited 1 s.
        wait_until(
            lambda: heard(caller.rtp).count("music") >= 50,
            timeout=10,
            what="the parked caller hears the music on hold",
        )
        wait_until(
            lambda: music_announcement_music(caller.rtp),
            timeout=15,
            what="music, an announcement, music again",
        )
        wait_until(
            lambda: len(announced(controller.log_text(), cid)) >= 2,
            timeout=15,
            what="a second announcement",
        )
        (first, text), (second, _) = announced(controller.log_text(), cid)[:2]
        assert text == "您是下一位接听的客户。"
        # Start to start: 6 s less the first one's rendering (the second is cached), with
        # room for a loaded machine.
        assert 4.5 <= (second - first).total_seconds() <= 7.5, (first, second)

        position = rig.client.get_call_position(pb.GetCallPositionRequest(call_id=cid))
        assert (
            position.error.code,
            position.queue,
            position.waiting,
            position.position,
            position.queue_length,
        ) == (OK, QUEUE, True, 1, 1)
        assert not position.HasField("expected_wait_seconds"), "nobody talks: no estimate"

        assert (
            rig.client.set_idle(
                pb.SetIdleRequest(employee_id=1001, session_id=agents.agents[1001].session)
            ).error.code
            == OK
        )
        (call,) = phone.run.wait_for_log("CALL", timeout=10)
        bridged = caller.wait_bridged()
        played = len(announced(controller.log_text(), cid))
        caller.rtp.received.clear()
        to_agent, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(call))
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
        # Every packet the caller got since the bridge is the agent's: the music stopped.
        assert len(caller.rtp.received) == to_caller, heard(caller.rtp)
        assert f"cid={cid} queue media over (call.answered)" in controller.log_text()
        after = media_commands(rig.engine)
        # The music, then each announcement and the music after it (the last one's may
        # not have started before the bridge); one stop at the bridge.
        assert after["playmedia"] - before["playmedia"] >= 2 * played, (before, after)
        assert after["stopmedia"] - before["stopmedia"] == 1, (before, after)

        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert phone.run.wait(timeout=10) == 0, phone.run.errors()
        log = controller.log_text()
    assert len(announced(log, cid)) == played, "no announcement after the bridge"
    unknown = rig.client.get_call_position(pb.GetCallPositionRequest(call_id=cid))
    assert unknown.error.code == pb.ERROR_CODE_UNKNOWN_CALL
    assert "already ended" in unknown.error.message


def test_a_caller_answered_before_the_music_is_due_is_played_nothing(
    rig: Rig, workdir: Path
) -> None:
    """1001 is idle: its phone rings at once and answers 100 ms later. The caller is
    bridged before its music is due, so rtpengine gets neither a `play media` nor, at
    the bridge, a `stop media`, and the caller hears nothing before the agent. The
    delay is 3 s here, not the default 1 s, so that a loaded machine cannot make the
    bridge late enough to start the music (it normally comes 0.2 s after parking)."""
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent", pause_ms=100)
    cid = new_cid()
    before = media_commands(rig.engine)
    with rig.controller(
        "--prompt-cache", str(workdir / "prompts"), *FAST, "--music-after", "3"
    ) as controller:
        caller = rig.caller(controller, cid)
        (call,) = phone.run.wait_for_log("CALL", timeout=10)
        bridged = caller.wait_bridged()
        assert caller.rtp.received == [], "nothing played before the bridge"
        to_agent, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(call))
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
        assert len(caller.rtp.received) == to_caller, heard(caller.rtp)
        assert f"cid={cid} queue media over (call.answered)" in controller.log_text()
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert phone.run.wait(timeout=10) == 0, phone.run.errors()
    assert media_commands(rig.engine) == before, "no play media, no stop media"
    kinds = [e.kind for e in rig.ended_events(cid)]
    assert kinds.count("call.ringing") == 1 and kinds.count("call.answered") == 1, kinds


def test_positions_are_announced_in_the_queue_language(rig: Rig, workdir: Path) -> None:
    """Two callers wait in an English queue: each hears its own place, in order."""
    rig.agents("1001", busy=("1001",))
    first, second = new_cid(), new_cid()
    with rig.controller(
        "--prompt-cache",
        str(workdir / "prompts"),
        "--announce-first",
        "1",
        "--queue-media",
        f"{QUEUE}:en:30",
    ) as controller:
        a = rig.caller(controller, first)
        a.run.wait_for_log("ANSWERED", timeout=10)
        wait_until(lambda: rig.queue_view().waiting == 1, timeout=5, what="the first queued")
        b = rig.caller(controller, second)
        wait_until(
            lambda: all(announced(controller.log_text(), c) for c in (first, second)),
            timeout=15,
            what="an announcement to each caller",
        )
        assert announced(controller.log_text(), first)[0][1] == "You are next in the queue."
        assert announced(controller.log_text(), second)[0][1] == "You are number 2 in the queue."
        wait_until(lambda: "loud" in heard(b.rtp), timeout=10, what="the second hears it")
        for party, cid in ((a, first), (b, second)):
            trigger(party, caller_call_id(cid))
            party.run.wait_for_log("HUNG_UP", timeout=10)
            assert party.run.wait(timeout=10) == 0, party.run.errors()
        assert f"cid={first} queue media over (call.ended)" in controller.log_text()


def test_without_espeak_the_caller_keeps_the_music(
    rig: Rig, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """espeak-ng missing: one WARNING, no announcement, the music goes on and the call
    is answered as usual."""
    agents = rig.agents("1001", busy=("1001",))
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    tools = workdir / "bin"  # sox only: the music renders, the announcements cannot
    tools.mkdir()
    sox = shutil.which("sox")
    assert sox is not None
    os.symlink(sox, tools / "sox")
    cid = new_cid()
    with contextlib.ExitStack() as stack:
        with monkeypatch.context() as env:
            env.setenv("PATH", str(tools))  # the controller's, from its start; sipp's is not
            controller = stack.enter_context(
                rig.controller("--prompt-cache", str(workdir / "prompts"), *FAST)
            )
        caller = rig.caller(controller, cid)
        wait_until(
            lambda: "cannot render the announcement" in controller.log_text(),
            timeout=15,
            what="the rendering failure is logged",
        )
        warnings = [
            line
            for line in controller.log_text().splitlines()
            if "cannot render the announcement" in line
        ]
        assert len(warnings) == 1 and " WARNING " in warnings[0] and "espeak-ng" in warnings[0]
        wait_until(
            lambda: heard(caller.rtp).count("music") >= 100, timeout=10, what="the music goes on"
        )
        assert "loud" not in heard(caller.rtp)
        assert non_silent(caller.rtp) >= 100

        assert (
            rig.client.set_idle(
                pb.SetIdleRequest(employee_id=1001, session_id=agents.agents[1001].session)
            ).error.code
            == OK
        )
        (call,) = phone.run.wait_for_log("CALL", timeout=10)
        bridged = caller.wait_bridged()
        caller.rtp.received.clear()
        _, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(call))
        assert to_caller >= 48 and len(caller.rtp.received) == to_caller
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()


def test_music_goes_on_while_an_agent_rings_and_the_announcement_waits_for_the_ring(
    rig: Rig, workdir: Path
) -> None:
    """1001's phone rings and is not answered: the caller hears the music all along, and
    no announcement starts while it rings (the one due 1 s after parking waits). When
    1001 logs out, the ACD takes the ring back (CancelRing, the controller releases the
    leg): the overdue announcement plays at once, then the music again."""
    rig.acd.stop()  # a long ring, so that the test ends it rather than the ring timer
    config = yaml.safe_load(rig.acd.config.read_text())
    config["queues"][0]["ring_timeout_ms"] = 30_000
    rig.acd.config.write_text(yaml.safe_dump(config, sort_keys=False))
    rig.acd.start()
    agents = rig.agents("1001", "1002", busy=("1002",))  # 1002 keeps the queue staffed
    phone = rig.phone("1001", "ctl_agent_noanswer")
    cid = new_cid()
    with rig.controller(
        "--prompt-cache",
        str(workdir / "prompts"),
        "--announce-first",
        "1",
        "--announce-every",
        "30",
    ) as controller:
        caller = rig.caller(controller, cid)
        phone.run.wait_for_log("RANG", timeout=10)
        ringing = len(caller.rtp.received)
        wait_until(
            lambda: heard(caller.rtp)[ringing:].count("music") >= 100,
            timeout=10,
            what="two seconds of music while the agent's phone rings",
        )
        assert "loud" not in heard(caller.rtp), "no announcement while an agent rings"
        assert announced(controller.log_text(), cid) == []
        assert controller.call(cid)["state"] == "ringing"  # type: ignore[index]

        out = rig.client.logout(
            pb.LogoutRequest(employee_id=1001, session_id=agents.agents[1001].session)
        )
        assert [a.WhichOneof("kind") for a in out.actions] == ["cancel_ring"]
        phone.run.wait_for_log("CANCELLED", timeout=5)
        wait_until(
            lambda: announced(controller.log_text(), cid),
            timeout=10,
            what="the deferred announcement",
        )
        assert announced(controller.log_text(), cid)[0][1] == "您是下一位接听的客户。"
        wait_until(
            lambda: music_announcement_music(caller.rtp),
            timeout=15,
            what="music, the announcement, music again",
        )
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert phone.run.wait(timeout=10) == 0, phone.run.errors()
