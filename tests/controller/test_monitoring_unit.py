"""Monitoring's pure parts and its wiring into the call service, on fakes: the hear map,
the keypad, the choice of a mixer, and what the controller does on each step (no SIP,
rtpengine or mixer processes)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from controller import CallPhase, CallService
from controller._monitoring import (
    Keypad,
    MixerError,
    MixerNode,
    MixerPool,
    Monitoring,
    MonitorReport,
    hear_map,
)
from eventlog import Event
from tests.controller.test_service import OFFER, FakeMedia, FakeSip, FakeTimers, sdp

# ------------------------------------------------------------------ pure parts


def test_hear_map_follows_the_mode_table() -> None:
    assert hear_map([("sup:a", "listen")]) == {
        "caller": ["agent"],
        "agent": ["caller"],
        "sup:a": ["caller", "agent"],
    }
    assert hear_map([("sup:a", "whisper")])["agent"] == ["caller", "sup:a"]
    assert hear_map([("sup:a", "whisper")])["caller"] == ["agent"]
    barge = hear_map([("sup:a", "barge")])
    assert barge["caller"] == ["agent", "sup:a"] and barge["agent"] == ["caller", "sup:a"]


def test_with_two_supervisors_each_hears_a_barging_one_only() -> None:
    hears = hear_map([("sup:a", "barge"), ("sup:b", "listen"), ("sup:c", "whisper")])
    assert hears["sup:b"] == ["caller", "agent", "sup:a"]
    assert hears["sup:c"] == ["caller", "agent", "sup:a"]
    assert hears["sup:a"] == ["caller", "agent"], "nobody else barges"
    assert hears["agent"] == ["caller", "sup:a", "sup:c"]
    assert hears["caller"] == ["agent", "sup:a"]


def test_hear_map_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown monitoring mode"):
        hear_map([("sup:a", "shout")])


def test_keypad_maps_keys_and_ignores_others() -> None:
    keys = Keypad()
    assert [keys.action(d) for d in "456*1#"] == [
        "listen",
        "whisper",
        "barge",
        "intercept",
        None,
        None,
    ]
    custom = Keypad.parse("1,2,3,#")
    assert custom.action("#") == "intercept" and custom.action("4") is None


@pytest.mark.parametrize(
    ("text", "error"),
    [("4,4,6,*", "must differ"), ("4,5,6", "four keys"), ("4,5,66,*", "one of 0-9")],
)
def test_keypad_refuses_bad_keys(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Keypad.parse(text)


class FakeMixer(MixerNode):
    """A mixer node that records commands and answers them, or fails them when told."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "127.0.0.1", 9)
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.fail: set[str] = set()
        self.held: set[str] = set()

    def join(self, conference: str, slot: str, sdp_: str) -> str:
        self.held.add(conference)
        return super().join(conference, slot, sdp_)

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        self.commands.append((command, params))
        if command in self.fail:
            raise MixerError(f"mixer {self.name} did not answer {command!r}")
        if command == "ping":
            return {"result": "pong"}
        if command == "list":
            return {"result": "ok", "conferences": sorted(self.held)}
        if command == "join":
            return {"result": "ok", "sdp": sdp(40000 + len(self.commands))}
        return {"result": "ok"}

    def named(self, command: str) -> list[dict[str, Any]]:
        return [params for name, params in self.commands if name == command]


def test_pool_picks_the_least_loaded_healthy_mixer() -> None:
    a, b = FakeMixer("a"), FakeMixer("b")
    a.conferences.add("x")
    assert [n.name for n in MixerPool([a, b]).candidates()] == ["b", "a"]
    with pytest.raises(MixerError, match="no mixer configured"):
        MixerPool([]).candidates()
    with pytest.raises(ValueError, match="must differ"):
        MixerPool([a, FakeMixer("a")])


def test_an_unanswered_node_is_marked_down() -> None:
    now = [0.0]
    node = MixerNode("m", "127.0.0.1", 9, timeout_s=0.05, down_for_s=5, clock=lambda: now[0])
    with pytest.raises(MixerError, match="did not answer"):
        node.ping()  # nothing listens on the discard port
    assert not node.healthy()
    with pytest.raises(MixerError, match="every mixer is marked down"):
        MixerPool([node]).candidates()
    now[0] = 6.0
    assert node.healthy()
    node.close()


# ----------------------------------------------------------- wiring, on fakes


class AnyTagMedia(FakeMedia):
    def offer(self, call_id: str, from_tag: str, to_tag: str | None, sdp_: str) -> str:
        self.sessions.add(call_id)
        return sdp(30000 + zlib.crc32(f"{call_id}{from_tag}{to_tag}".encode()) % 1000)

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp_: str) -> str:
        return sdp(32000 + zlib.crc32(f"{call_id}{from_tag}{to_tag}a".encode()) % 1000)


@dataclass
class Events:
    events: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, prefix: str) -> list[tuple[str, dict[str, str]]]:
        return [(e.kind, dict(e.data)) for e in self.events if e.kind.startswith(prefix)]


@dataclass
class Parts:
    service: CallService
    sip: FakeSip
    media: AnyTagMedia
    timers: FakeTimers
    mixer: FakeMixer
    monitoring: Monitoring
    events: Events
    reports: list[MonitorReport]


@pytest.fixture
def parts() -> Parts:
    sip, media, timers, events = FakeSip(), AnyTagMedia(), FakeTimers(), Events()
    agents = {a: ("h", i) for i, a in enumerate(("1001", "1002", "2001", "2002"))}
    service = CallService(sip, media, timers, agents=agents, events=events)
    mixer = FakeMixer("mix0")
    monitoring = Monitoring(service, MixerPool([mixer]), ring_timeout_s=5)
    reports: list[MonitorReport] = []
    monitoring.report = reports.append
    return Parts(service, sip, media, timers, mixer, monitoring, events, reports)


def bridged(p: Parts) -> str:
    cid, _ = p.service.incoming(None, OFFER, "139", "95598")
    p.service.connect(cid, ["1001"])
    p.service.answered(cid, "L2", sdp(5000))
    p.timers.pending.clear()
    assert p.service.calls[cid].state is CallPhase.BRIDGED
    return cid


def monitored(p: Parts, mode: str = "listen", supervisor: str = "2001", session: str = "s1") -> str:
    cid = bridged(p)
    p.monitoring.start(cid, supervisor, mode, session_id=session)
    p.service.answered(cid, "M1", sdp(6000))
    return cid


def test_only_an_answered_call_can_be_monitored(parts: Parts) -> None:
    cid, _ = parts.service.incoming(None, OFFER, "139", "95598")
    with pytest.raises(Exception, match="this needs bridged"):
        parts.monitoring.start(cid, "2001", "listen")
    assert parts.sip.actions == []


def test_monitoring_rings_the_supervisor_in_its_own_rtpengine_call(parts: Parts) -> None:
    cid = bridged(parts)
    parts.monitoring.start(cid, "2001", "whisper", session_id="s1")
    assert ("originate", "M1", "2001") in parts.sip.actions
    assert f"{cid}~mon~s1" in parts.media.sessions
    assert parts.mixer.commands == [], "nothing goes through a mixer before the answer"


def test_answer_joins_caller_agent_and_supervisor_and_sets_who_hears_whom(parts: Parts) -> None:
    cid = monitored(parts, "whisper")
    joins = [(j["conference"], j["slot"]) for j in parts.mixer.named("join")]
    assert joins == [(cid, "caller"), (cid, "agent"), (cid, "sup:s1")]
    assert parts.mixer.named("hear")[-1]["hears"]["agent"] == ["caller", "sup:s1"]
    call = parts.service.calls[cid]
    assert call.caller.media_peer == "mixer-caller"
    assert call.agent is not None and call.agent.media_peer == "mixer-agent"
    started = parts.events.of("monitor.")
    assert started == [
        (
            "monitor.started",
            {
                "session": "s1",
                "supervisor": "2001",
                "agent": "1001",
                "mode": "whisper",
                "by": "dashboard",
                "requested_by": "",
                "mixer": "mix0",
                "recording_ref": "",
            },
        )
    ]
    assert parts.reports[-1] == MonitorReport(cid, "s1", "active", "whisper", "1001", "")


def test_a_switch_is_a_mixer_command_only(parts: Parts) -> None:
    cid = monitored(parts)
    before = list(parts.sip.actions)
    parts.monitoring.switch(cid, "s1", "barge")
    assert parts.sip.actions == before, "no SIP for a switch"
    assert parts.mixer.named("hear")[-1]["hears"]["caller"] == ["agent", "sup:s1"]
    assert parts.events.of("monitor.switched") == [
        (
            "monitor.switched",
            {
                "session": "s1",
                "supervisor": "2001",
                "agent": "1001",
                "mode": "barge",
                "previous": "listen",
                "by": "dashboard",
            },
        )
    ]


def test_the_supervisors_keys_switch_and_others_are_ignored(parts: Parts) -> None:
    cid = monitored(parts)
    parts.service.dtmf_info(cid, "M1", "5")
    assert parts.monitoring.calls[cid].sessions["s1"].mode == "whisper"
    parts.monitoring.rtpengine_dtmf(f"{cid}~mon~s1", "M1", "6")
    assert parts.monitoring.calls[cid].sessions["s1"].mode == "barge"
    parts.service.dtmf_info(cid, "M1", "9")
    assert [d["by"] for _, d in parts.events.of("monitor.switched")] == ["keypad", "keypad"]
    assert sum(parts.service.dtmf.stats()["received"].values()) == 0, "not the caller's digits"


def test_stop_hangs_up_the_supervisor_and_pairs_the_parties_again(parts: Parts) -> None:
    cid = monitored(parts)
    parts.monitoring.stop(cid, "s1")
    assert ("hangup", "M1") in parts.sip.actions
    assert parts.mixer.named("delete") == [{"conference": cid}]
    call = parts.service.calls[cid]
    assert call.caller.media_peer == "L2" and call.agent is not None
    assert call.agent.media_peer == "L1"
    assert f"{cid}~mon~s1" not in parts.media.sessions
    ((_, stopped),) = parts.events.of("monitor.stopped")
    assert stopped["reason"] == "requested"
    assert parts.reports[-1].state == "ended" and parts.reports[-1].reason == "requested"
    assert cid not in parts.monitoring.calls


def test_no_answer_leaves_the_call_untouched(parts: Parts) -> None:
    cid = bridged(parts)
    parts.monitoring.start(cid, "2001", "listen", session_id="s1")
    parts.timers.fire()  # the supervisor's ring timeout
    assert ("hangup", "M1") in parts.sip.actions
    assert parts.mixer.commands == []
    assert parts.events.of("monitor.") == [
        (
            "monitor.stopped",
            {
                "session": "s1",
                "supervisor": "2001",
                "agent": "1001",
                "reason": "no_answer",
                "duration_ms": "0",
            },
        )
    ]
    assert parts.service.calls[cid].caller.media_peer == "L2"


def test_a_supervisor_hanging_up_ends_its_session(parts: Parts) -> None:
    cid = monitored(parts)
    parts.service.ended(cid, "M1")
    assert parts.events.of("monitor.stopped")[0][1]["reason"] == "supervisor_hangup"
    assert parts.service.calls[cid].state is CallPhase.BRIDGED


def test_the_call_ending_ends_every_session(parts: Parts) -> None:
    cid = monitored(parts)
    parts.monitoring.start(cid, "2002", "listen", session_id="s2")
    parts.service.ended(cid, "L1")
    reasons = [d["reason"] for _, d in parts.events.of("monitor.stopped")]
    assert reasons == ["call_ended", "call_ended"]
    assert ("hangup", "M1") in parts.sip.actions and ("hangup", "M2") in parts.sip.actions
    assert parts.media.sessions == set()
    assert parts.monitoring.calls == {}


def test_a_blind_transfer_moves_the_new_agent_to_the_mixer(parts: Parts) -> None:
    cid = monitored(parts)
    parts.service.transfer(cid, ["1002"])
    assert parts.service.calls[cid].caller.media_peer == "park"
    parts.service.answered(cid, "L3", sdp(5002))
    call = parts.service.calls[cid]
    assert call.caller.media_peer == "mixer-caller"
    assert call.agent is not None and call.agent.media_peer == "mixer-agent"
    agent_joins = [j for j in parts.mixer.named("join") if j["slot"] == "agent"]
    assert len(agent_joins) == 2
    assert parts.reports[-1] == MonitorReport(cid, "s1", "active", "listen", "1002", "")
    parts.monitoring.switch(cid, "s1", "whisper")
    assert parts.events.of("monitor.switched")[0][1]["agent"] == "1002"


def test_a_partys_hold_is_answered_by_its_slot_and_still_an_event(parts: Parts) -> None:
    cid = monitored(parts)
    for leg_id, port in (("L1", 4000), ("L2", 5000), ("M1", 6000)):  # our re-INVITEs done
        parts.service.answered(cid, leg_id, sdp(port))
    while any(leg.pending_update for leg in parts.service.calls[cid].legs()):
        parts.service.answered(cid, "L1", sdp(4000))  # a queued re-INVITE went out
    before = len(parts.sip.actions)
    parts.service.reinvite(cid, "L2", sdp(5000).replace("sendrecv", "sendonly"))
    assert parts.sip.actions[before:] == [("answer_update", "L2")], "not relayed to the caller"
    assert parts.mixer.named("join")[-1]["slot"] == "agent"
    assert [kind for kind, _ in parts.events.of("call.")][-1] == "call.hold"
    parts.service.reinvite(cid, "L2", sdp(5000))
    assert [kind for kind, _ in parts.events.of("call.")][-1] == "call.resume"


def test_an_attended_transfer_moves_the_target_to_the_mixer(parts: Parts) -> None:
    cid = monitored(parts)
    parts.service.consult(cid, "1002")
    call = parts.service.calls[cid]
    assert call.caller.media_peer == "park", "the caller waits parked during the consult"
    parts.service.answered(cid, "L3", sdp(5002))
    assert call.state is CallPhase.CONSULTING
    parts.service.complete_transfer(cid)
    assert call.agent is not None and call.agent.leg_id == "L3"
    assert call.caller.media_peer == "mixer-caller" and call.agent.media_peer == "mixer-agent"
    assert parts.monitoring.calls[cid].agent == "1002"
    assert parts.monitoring.calls[cid].sessions["s1"].state.value == "active"


def test_a_cancelled_consult_puts_the_agent_back_through_the_mixer(parts: Parts) -> None:
    cid = monitored(parts)
    parts.service.consult(cid, "1002")
    parts.service.answered(cid, "L3", sdp(5002))
    parts.service.cancel_consult(cid)
    call = parts.service.calls[cid]
    assert call.agent is not None and call.agent.leg_id == "L2"
    assert call.caller.media_peer == "mixer-caller" and call.agent.media_peer == "mixer-agent"
    assert parts.monitoring.calls[cid].agent == "1001"


def test_a_failing_mixer_pairs_the_parties_and_hangs_up_supervisors(parts: Parts) -> None:
    cid = monitored(parts)
    parts.mixer.fail.add("hear")
    with pytest.raises(MixerError):
        parts.monitoring.switch(cid, "s1", "barge")
    assert ("hangup", "M1") in parts.sip.actions
    assert parts.events.of("monitor.stopped")[0][1]["reason"] == "mixer_failed"
    call = parts.service.calls[cid]
    assert call.state is CallPhase.BRIDGED and call.caller.media_peer == "L2"


def test_an_unanswered_ping_fails_the_calls_on_that_mixer(parts: Parts) -> None:
    cid = monitored(parts)
    parts.monitoring.ping()
    assert parts.events.of("monitor.stopped") == [], "the mixer holds the conference"
    parts.mixer.fail.add("list")
    parts.monitoring.ping()
    assert parts.events.of("monitor.stopped")[0][1]["reason"] == "mixer_failed"
    assert parts.service.calls[cid].caller.media_peer == "L2"


def test_a_mixer_that_lost_the_conference_fails_its_calls(parts: Parts) -> None:
    cid = monitored(parts)
    parts.mixer.held.clear()  # restarted
    parts.monitoring.ping()
    assert parts.events.of("monitor.stopped")[0][1]["reason"] == "mixer_failed"
    assert parts.service.calls[cid].caller.media_peer == "L2"
    assert not parts.mixer.conferences


def test_intercept_hands_the_caller_to_the_supervisor_on_its_leg(parts: Parts) -> None:
    cid = monitored(parts, "barge")
    parts.monitoring.start(cid, "2002", "listen", session_id="s2")
    parts.service.answered(cid, "M2", sdp(6002))
    parts.service.dtmf_info(cid, "M1", "*")
    call = parts.service.calls[cid]
    assert call.agent is not None and call.agent.leg_id == "M1" and call.agent.target == "2001"
    assert call.caller.media_peer == "M1"
    assert ("hangup", "L2") in parts.sip.actions and ("hangup", "M2") in parts.sip.actions
    assert ("hangup", "M1") not in parts.sip.actions
    assert parts.mixer.named("delete") == [{"conference": cid}]
    assert {d["reason"] for _, d in parts.events.of("monitor.stopped")} == {"intercept"}
    assert parts.events.of("call.transferred") == [
        (
            "call.transferred",
            {"from_agent": "1001", "to_kind": "agent", "to": "2001", "mode": "intercept"},
        )
    ]
    assert parts.media.sessions == {cid}, "the supervisors' own rtpengine calls are gone"
    parts.service.hangup(cid)
    assert ("hangup", "M1") in parts.sip.actions


def test_record_without_a_recording_dir_is_ignored(parts: Parts, caplog: Any) -> None:
    cid = bridged(parts)
    parts.monitoring.start(cid, "2001", "listen", session_id="s1", record=True)
    parts.service.answered(cid, "M1", sdp(6000))
    assert parts.mixer.named("record") == []
    assert "not recorded" in caplog.text


def test_a_recorded_session_writes_three_channels(parts: Parts, tmp_path: Any) -> None:
    parts.monitoring.recorder.directory = tmp_path
    cid = bridged(parts)
    parts.monitoring.start(cid, "2001", "listen", session_id="s1", record=True)
    parts.service.answered(cid, "M1", sdp(6000))
    (record,) = parts.mixer.named("record")
    assert record["channels"] == [["caller"], ["agent"], ["sup:s1"]]
    assert record["file"].startswith(f"{tmp_path}/monitor/")
    ((_, started),) = parts.events.of("recording.started")
    assert started["reason"] == "monitor" and started["name"] == "s1"
    assert started["media_node"] == "mix0"
    assert record["file"].endswith(f"/{started['ref']}.wav")
    parts.monitoring.stop(cid, "s1")
    assert parts.mixer.named("stop record") == [{"conference": cid}]
    assert parts.events.of("recording.stopped") == [
        ("recording.stopped", {"ref": started["ref"], "segments": "1"})
    ]


def test_a_supervisor_legs_rtpengine_call_id_reads_back() -> None:
    from controller._monitoring._sessions import monitor_call_id, split_monitor_call_id

    assert split_monitor_call_id(monitor_call_id("c1", "s9")) == ("c1", "s9")
    assert split_monitor_call_id("c1") is None  # the customer call's own
