"""Monitoring end to end at the controller: rtpengine, a real mixer (`python -m mixer`),
the controller driven over its control socket, sipp parties and RTP tone sources.

Each party sends its own tone (caller 440 Hz, agent 1 kHz, supervisor 2.5 kHz) and
what each received is measured with the Goertzel filter: who hears whom, per mode.
"""

from __future__ import annotations

import math
import secrets
import signal
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from simulators import (
    RtpEndpoint,
    RtpSender,
    SippRun,
    encode_ulaw,
    received_pcm,
    tone_fraction,
)
from testbed import Controller, Rtpengine, media_of, running_mixer, wait_until
from tests.controller.call_parties import (
    call_events,
    caller,
    controller_logging,
    events_redis,  # noqa: F401  (module fixture)
    party,
)

pytestmark = pytest.mark.integration

CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440.0, 1000.0, 2500.0
HEARD = 0.15  # a party heard: its share of the energy received (about 0.5 for one of two)
NOT_HEARD = 0.03


@pytest.fixture(scope="module")
def mixer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One mixer process; the controller's --mixer value for it."""
    with running_mixer(tmp_path_factory.mktemp("mixer")) as running:
        host, port = running.ng
        yield f"mix0={host}:{port}"
        assert "Traceback" not in running.log.read_text(errors="replace")


@pytest.fixture
def rtp() -> Iterator[dict[str, RtpEndpoint]]:
    endpoints = {name: RtpEndpoint(record=True) for name in ("caller", "1001", "1002", "2001")}
    yield endpoints
    for endpoint in endpoints.values():
        endpoint.close()


def latest_media(run: SippRun) -> tuple[str, int]:
    """Where the party sends now: the media of its last offer or answer from us."""
    lines = [
        line for line in run.log_lines() if line.startswith(("CALL ", "ANSWERED ", "REINVITE "))
    ]
    assert lines, f"{run.name} has no media yet"
    return media_of(lines[-1])


def tone_packets(freq: float, seconds: float) -> list[bytes]:
    """PCMU payloads of a continuous tone at -6 dBFS, one per 20 ms."""
    n = int(seconds * 8000)
    samples = (16000 * np.sin(2 * math.pi * freq * np.arange(n) / 8000)).astype(np.int16)
    return [encode_ulaw(samples[i : i + 160]) for i in range(0, n - 159, 160)]


class Talkers:
    """Each party sends its tone to where its SDP says, paced at 20 ms, all at once."""

    def __init__(self) -> None:
        self.senders: dict[str, RtpSender] = {}

    def exchange(
        self,
        parties: dict[str, tuple[RtpEndpoint, tuple[str, int], float]],
        seconds: float = 1.2,
    ) -> dict[str, dict[float, float]]:
        """Send, then what each endpoint heard: {party: {freq: share of energy}}."""
        for endpoint, _, _ in parties.values():
            endpoint.recorded = {}
        payloads = {name: tone_packets(freq, seconds) for name, (_, _, freq) in parties.items()}
        for name, (endpoint, _, _) in parties.items():
            self.senders.setdefault(name, RtpSender(ssrc=0x70000000 | endpoint.port))
        start = time.monotonic()
        for i in range(len(next(iter(payloads.values())))):
            for name, (endpoint, dest, _) in parties.items():
                endpoint.send_packet(dest, self.senders[name].audio(payloads[name][i]))
            delay = start + (i + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        wait_until(
            lambda: all(len(received_pcm(e)) > 0 for e, _, _ in parties.values()),
            timeout=3,
            what="every party received audio",
        )
        time.sleep(0.1)  # the mixer's last frames in flight (2 ticks)
        for name, (endpoint, _, _) in parties.items():
            # One stream each: nobody gets a party directly besides the mixer's mix.
            assert len(endpoint.recorded) == 1, (name, list(endpoint.recorded))
        heard: dict[str, dict[float, float]] = {}
        for name, (endpoint, _, _) in parties.items():
            pcm = received_pcm(endpoint)[1600:]  # the first 200 ms: the switch settles
            heard[name] = {f: tone_fraction(pcm, f) for f in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)}
        return heard


def hears(shares: dict[float, float], *freqs: float) -> bool:
    """Exactly `freqs` among the three tones are heard."""
    return all(
        (shares[f] >= HEARD) if f in freqs else (shares[f] <= NOT_HEARD)
        for f in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)
    )


def wait_active(controller: Controller, cid: str, session: str) -> None:
    def active() -> bool:
        sessions = controller.cmd("monitors", cid=cid)["sessions"]
        return any(
            s["session"] == session and s["state"] == "active" and not s["updating"]
            for s in sessions
        )

    wait_until(active, timeout=10, what=f"session {session} active on {cid}")
    controller.wait_state(cid, "bridged")


def start_call(
    controller: Controller, workdir: Path, rtp: dict[str, RtpEndpoint], cid: str
) -> tuple[SippRun, SippRun, SippRun]:
    agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
    supervisor = party(controller, workdir, "2001", "ctl_party", rtp["2001"])
    c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
    controller.wait_new_call()
    controller.cmd("connect", cid=cid, agents=["1001"], ring_timeout_s=20)
    controller.wait_state(cid, "bridged")
    return c, agent, supervisor


def test_listen_then_whisper_then_stop(
    workdir: Path,
    engine: Rtpengine,
    mixer: str,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    """Recorded, too: the mixer's WAV has the caller, the agent and the supervisor on
    channels 1, 2 and 3, whoever heard them."""
    cid = secrets.token_hex(16)
    talk = Talkers()
    recordings = workdir / "recordings"
    with controller_logging(
        workdir,
        engine,
        events_redis,
        "--mixer",
        mixer,
        "--monitor-recording-dir",
        str(recordings),
    ) as (controller, stream):
        c, agent, supervisor = start_call(controller, workdir, rtp, cid)
        controller.cmd(
            "monitor", cid=cid, supervisor="2001", mode="listen", session="s1", record=True
        )
        assert supervisor.wait_for_log("CALL")[0].startswith(f"CALL cid={cid} ")
        wait_active(controller, cid, "s1")

        def parties() -> dict[str, tuple[RtpEndpoint, tuple[str, int], float]]:
            return {
                "caller": (rtp["caller"], latest_media(c), CALLER_HZ),
                "agent": (rtp["1001"], latest_media(agent), AGENT_HZ),
                "supervisor": (rtp["2001"], latest_media(supervisor), SUPERVISOR_HZ),
            }

        heard = talk.exchange(parties())
        assert hears(heard["caller"], AGENT_HZ), heard
        assert hears(heard["agent"], CALLER_HZ), heard
        assert hears(heard["supervisor"], CALLER_HZ, AGENT_HZ), heard

        updates = len(supervisor.log_lines())
        controller.cmd("monitor_switch", cid=cid, session="s1", mode="whisper")
        heard = talk.exchange(parties())
        assert hears(heard["caller"], AGENT_HZ), heard
        assert hears(heard["agent"], CALLER_HZ, SUPERVISOR_HZ), heard
        assert hears(heard["supervisor"], CALLER_HZ, AGENT_HZ), heard
        assert len(supervisor.log_lines()) == updates, "a switch sends no SIP"

        # The supervisor's `6` (RFC 4733, through its own rtpengine call): barge.
        rtp["2001"].send_dtmf(latest_media(supervisor), "6")
        wait_until(
            lambda: controller.cmd("monitors", cid=cid)["sessions"][0]["mode"] == "barge",
            timeout=5,
            what="the supervisor's key 6 switched to barge",
        )
        heard = talk.exchange(parties())
        assert hears(heard["caller"], AGENT_HZ, SUPERVISOR_HZ), heard
        assert hears(heard["agent"], CALLER_HZ, SUPERVISOR_HZ), heard

        controller.cmd("monitor_stop", cid=cid, session="s1")
        assert supervisor.wait_for_log("BYE")
        controller.wait_state(cid, "bridged")
        assert controller.cmd("monitors", cid=cid)["sessions"] == []
        direct = parties()
        del direct["supervisor"]
        heard = talk.exchange(direct)
        assert hears(heard["caller"], AGENT_HZ), heard
        assert hears(heard["agent"], CALLER_HZ), heard

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, supervisor):
            assert run.wait(timeout=10) == 0, run.errors()
        every = call_events(events_redis, stream, cid)
        events = [e for e in every if e[0].startswith("monitor.")]
    kinds = [(kind, data.get("mode") or data.get("reason")) for kind, data in events]
    (started,) = [data for kind, data in every if kind == "recording.started"]
    assert (started["reason"], started["name"], started["media_node"]) == ("monitor", "s1", "mix0")
    assert events[0][1]["recording_ref"] == started["ref"]
    assert ("recording.stopped", {"ref": started["ref"], "segments": "1"}) in every
    (wav,) = recordings.glob(f"monitor/*/{started['ref']}.wav")
    with wave.open(str(wav), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 3, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 3)
    for channel, freq in enumerate((CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)):
        assert tone_fraction(frames[:, channel], freq) > 0.8, (channel, freq)
    assert kinds == [
        ("monitor.started", "listen"),
        ("monitor.switched", "whisper"),
        ("monitor.switched", "barge"),
        ("monitor.stopped", "requested"),
    ]
    assert [data.get("by") for _, data in events[1:3]] == ["dashboard", "keypad"]
    assert events[0][1]["mixer"] == "mix0" and events[0][1]["agent"] == "1001"


def test_a_session_follows_a_blind_transfer_and_ends_with_the_call(
    workdir: Path,
    engine: Rtpengine,
    mixer: str,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    talk = Talkers()
    with controller_logging(workdir, engine, events_redis, "--mixer", mixer) as (
        controller,
        stream,
    ):
        c, agent, supervisor = start_call(controller, workdir, rtp, cid)
        controller.cmd("monitor", cid=cid, supervisor="2001", mode="barge", session="s2")
        wait_active(controller, cid, "s2")
        second = party(controller, workdir, "1002", "ctl_party", rtp["1002"])
        controller.cmd("transfer", cid=cid, agents=["1002"])
        assert agent.wait_for_log("BYE")
        second.wait_for_log("CALL")
        controller.wait_state(cid, "bridged")
        wait_active(controller, cid, "s2")
        assert controller.cmd("monitors", cid=cid)["agent"] == "1002"

        heard = talk.exchange(
            {
                "caller": (rtp["caller"], latest_media(c), CALLER_HZ),
                "agent": (rtp["1002"], latest_media(second), AGENT_HZ),
                "supervisor": (rtp["2001"], latest_media(supervisor), SUPERVISOR_HZ),
            }
        )
        assert hears(heard["caller"], AGENT_HZ, SUPERVISOR_HZ), heard
        assert hears(heard["agent"], CALLER_HZ, SUPERVISOR_HZ), heard
        assert hears(heard["supervisor"], CALLER_HZ, AGENT_HZ), heard

        controller.cmd("hangup", cid=cid)
        assert supervisor.wait_for_log("BYE")
        for run in (c, agent, second, supervisor):
            assert run.wait(timeout=10) == 0, run.errors()
        events = [e for e in call_events(events_redis, stream, cid) if e[0].startswith("monitor.")]
    assert [(kind, data["agent"]) for kind, data in events] == [
        ("monitor.started", "1001"),
        ("monitor.stopped", "1002"),
    ]
    assert events[1][1]["reason"] == "call_ended"


def test_the_supervisors_star_takes_the_caller_on_its_leg(
    workdir: Path,
    engine: Rtpengine,
    mixer: str,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    talk = Talkers()
    with controller_logging(workdir, engine, events_redis, "--mixer", mixer) as (
        controller,
        stream,
    ):
        c, agent, supervisor = start_call(controller, workdir, rtp, cid)
        controller.cmd("monitor", cid=cid, supervisor="2001", mode="listen", session="s3")
        wait_active(controller, cid, "s3")
        rtp["2001"].send_dtmf(latest_media(supervisor), "*")
        assert agent.wait_for_log("BYE")
        controller.wait_state(cid, "bridged")
        legs = controller.call(cid)["legs"]  # type: ignore[index]
        assert [(leg["role"], leg["target"]) for leg in legs] == [
            ("caller", None),
            ("agent", "2001"),
        ]
        heard = talk.exchange(
            {
                "caller": (rtp["caller"], latest_media(c), CALLER_HZ),
                "supervisor": (rtp["2001"], latest_media(supervisor), SUPERVISOR_HZ),
            }
        )
        assert hears(heard["caller"], SUPERVISOR_HZ), heard
        assert hears(heard["supervisor"], CALLER_HZ), heard

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, supervisor):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    tail = [(kind, data) for kind, data in events if kind not in ("call.arrived", "call.ringing")]
    assert [kind for kind, _ in tail] == [
        "call.answered",
        "monitor.started",
        "monitor.stopped",
        "call.transferred",
        "call.answered",
        "call.ended",
    ]
    assert tail[2][1]["reason"] == "intercept"
    assert tail[3][1] == {
        "from_agent": "1001",
        "to_kind": "agent",
        "to": "2001",
        "mode": "intercept",
    }


def test_a_mixer_that_stops_answering_leaves_the_call_on_direct_media(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    """The mixer hangs (SIGSTOP): the controller's next `list` gets no answer, the
    supervisor is hung up and caller and agent hear each other directly again."""
    cid = secrets.token_hex(16)
    talk = Talkers()
    with (
        running_mixer(workdir / "mixer") as own,
        controller_logging(
            workdir,
            engine,
            events_redis,
            "--mixer",
            f"solo={own.ng[0]}:{own.ng[1]}",
            "--mixer-ping-interval",
            "0.2",
            "--mixer-timeout",
            "0.1",
        ) as (controller, stream),
    ):
        c, agent, supervisor = start_call(controller, workdir, rtp, cid)
        controller.cmd("monitor", cid=cid, supervisor="2001", mode="whisper", session="s4")
        wait_active(controller, cid, "s4")
        own.process.send_signal(signal.SIGSTOP)
        try:
            assert supervisor.wait_for_log("BYE")
            controller.wait_state(cid, "bridged")
            heard = talk.exchange(
                {
                    "caller": (rtp["caller"], latest_media(c), CALLER_HZ),
                    "agent": (rtp["1001"], latest_media(agent), AGENT_HZ),
                }
            )
            assert hears(heard["caller"], AGENT_HZ), heard
            assert hears(heard["agent"], CALLER_HZ), heard
            assert controller.cmd("monitors")["mixers"][0]["healthy"] is False
        finally:
            own.process.send_signal(signal.SIGCONT)
        controller.cmd("hangup", cid=cid)
        for run in (c, agent, supervisor):
            assert run.wait(timeout=10) == 0, run.errors()
        events = [e for e in call_events(events_redis, stream, cid) if e[0].startswith("monitor.")]
    assert [(kind, data.get("reason")) for kind, data in events] == [
        ("monitor.started", None),
        ("monitor.stopped", "mixer_failed"),
    ]
