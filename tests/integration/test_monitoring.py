"""Supervisor monitoring on the whole stack (docs/monitoring.md): who hears whom, by tone.

`callcenter up` with a controller replica, the ACD and a mixer (`monitoring.mixers`);
a carrier's caller queues for billing and agent 1001 answers on its desk phone. Every
party sends its own tone (testbed.ToneParty, at -10 dBFS) and records what reaches it:
the caller 440 Hz, agent 1001 1 kHz, supervisor 1101 2.5 kHz, agent 1002 (a transfer's
target) 1.6 kHz, supervisor 1102 3 kHz. Each check analyses the same stretch of time at
every party (testbed.capture) and asserts each party hears exactly the tones the mode
table says (testbed.assert_hearing: each heard tone at -20 dBFS or more in most 40 ms
blocks, every other tone under -45 dBFS in nearly all and under -30 dBFS in every one).

Supervisors are logged in with the supervisor role and no skills (no queue call is ever
offered to them): 1101 supervises the billing queue, 1102 team north (1001, 1002), 1103
team south (1003), 1104 nobody. Sessions are started, switched and stopped through the
ACD's API (Monitor, SwitchMonitor, StopMonitor) as the dashboard does, and switched from
the supervisor's keypad (RFC 4733 digits in its RTP stream: 4 listen, 5 whisper, 6 barge,
* intercept). The event log, the ACD's snapshot and the agents' states are checked too.

One stack for the module; each test places its own call (about 5-10 s each).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import eventlog
from acd_api.v1 import acd_pb2 as pb
from configuration import split_hostport
from rtpengine import NgClient
from simulators import free_port
from simulators.acd_agent import AgentProfile, SimulatedAgents
from testbed import (
    OK,
    AcdPath,
    ToneParty,
    acd_path_config,
    analyse,
    assert_hearing,
    capture,
    registered,
    running_acd_path,
    tone_caller,
    tone_phone,
    wait_until,
    window_runs,
)

pytestmark = pytest.mark.integration

NUMBER, QUEUE = "95598", "billing"
AGENT, SECOND_AGENT, SOUTH_AGENT = "1001", "1002", "1003"
SUPERVISOR = "1101"  # supervises the billing queue
TEAM_SUPERVISOR = "1102"  # supervises team north: 1001 and 1002
SOUTH_SUPERVISOR = "1103"  # supervises team south: not 1001's call
NOBODYS_SUPERVISOR = "1104"  # no `supervises`: may monitor nobody
SUPERVISORS = (SUPERVISOR, TEAM_SUPERVISOR, SOUTH_SUPERVISOR, NOBODYS_SUPERVISOR)
ACCOUNTS = (AGENT, SECOND_AGENT, SOUTH_AGENT, *SUPERVISORS)

CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440.0, 1000.0, 2500.0
SECOND_AGENT_HZ, SECOND_SUPERVISOR_HZ = 1600.0, 3000.0

LISTEN, WHISPER, BARGE = pb.MONITOR_MODE_LISTEN, pb.MONITOR_MODE_WHISPER, pb.MONITOR_MODE_BARGE
INTERCEPT = pb.MONITOR_MODE_INTERCEPT
MODE_NAMES = {LISTEN: "listen", WHISPER: "whisper", BARGE: "barge"}
KEYS = {LISTEN: "4", WHISPER: "5", BARGE: "6"}


# --------------------------------------------------------------------------- the stack


# A monitored call here takes at most 4 mixer ports (caller, agent, two supervisors).
MIXER_PORTS = 20


def _free_range(size: int) -> int:
    """The first port of `size` ports that all bind now, above Linux's ephemeral range:
    below it are the ports `free_port` hands to services (10000-19999) and rtpengine's
    test ranges (20000-31999), which the mixer must not take from them."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[1]) + 1
    for _ in range(50):
        base = low + secrets.randbelow((65536 - low) // size) * size
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + size):
                    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise AssertionError(f"no {size} free UDP ports in a row above {low}")


@pytest.fixture(scope="module")
def floor(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcdPath]:
    workdir = tmp_path_factory.mktemp("monitoring")
    config, passwords = acd_path_config(
        workdir,
        ACCOUNTS,
        numbers=[
            {
                "number": NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "queue": QUEUE,
            }
        ],
        queues=[
            {"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 4000, "wrap_up_ms": 500}
        ],
        skills={"billing": 2},
        controller_name="mon-ctl0",
    )
    scopes: dict[str, dict[str, Any]] = {
        SUPERVISOR: {"queues": [QUEUE]},
        TEAM_SUPERVISOR: {"teams": ["north"]},
        SOUTH_SUPERVISOR: {"teams": ["south"]},
    }
    for account in config["accounts"]:
        name = account["username"]
        if name in SUPERVISORS:
            # No skills: no queue call is ever offered to a supervisor's phone.
            account["roles"], account["skills"] = ["agent", "supervisor"], {}
            if name in scopes:
                account["supervises"] = scopes[name]
        else:
            account["team"] = "south" if name == SOUTH_AGENT else "north"
    ports = _free_range(MIXER_PORTS)
    config["monitoring"] = {
        "mixers": [
            {
                "ng": f"127.0.0.1:{free_port()}",
                "port_min": ports,
                "port_max": ports + MIXER_PORTS - 1,
                "name": "mix0",
            }
        ],
        "ring_timeout_ms": 4000,
    }
    with running_acd_path(request, workdir, config, passwords) as path:
        yield path


@pytest.fixture
def path(floor: AcdPath) -> Iterator[AcdPath]:
    with floor.for_one_test(ACCOUNTS) as path:
        try:
            yield path
        finally:
            _hang_up_leftovers(path)
    # A logout the ACD defers to the end of a call (the controller's hang-up report may
    # come after it) must be done before the next test logs the same desks in.
    wait_until(
        lambda: all(floor.state_of(name) == "LOGGED_OUT" for name in ACCOUNTS),
        timeout=10,
        what="every desk logged out at the ACD",
    )


def _hang_up_leftovers(path: AcdPath) -> None:
    """After a failed test: end its calls, so the agents can log out (an agent on a call
    logs out only when it ends) and the next test starts from an empty floor."""
    for call in path.control.cmd("calls"):
        with contextlib.suppress(AssertionError):  # it ended meanwhile
            path.control.cmd("hangup", cid=call["cid"])
    wait_until(
        lambda: not path.control.cmd("calls"), timeout=10, what="no call left in the replica"
    )


# --------------------------------------------------------------------------- parties


@dataclass
class Desk:
    """A supervisor logged in at the ACD with the supervisor role, and its phone."""

    name: str
    session: str
    phone: ToneParty

    @property
    def actor(self) -> pb.Actor:
        return pb.Actor(desk=pb.DeskSession(employee_id=int(self.name), session_id=self.session))


@dataclass
class Call:
    cid: str
    caller: ToneParty
    agent: ToneParty


def _log_in_supervisors(path: AcdPath, *names: str) -> dict[str, str]:
    """Log supervisors in (role supervisor, idle, no skills); their desk sessions."""
    profiles = [
        AgentProfile(
            name,
            path.stack.passwords[name],
            int(name),
            int(name) % 1000,
            role=pb.ROLE_SUPERVISOR,
        )
        for name in names
    ]
    desks = SimulatedAgents(path.acd, profiles, reports_calls=False)
    desks.start()
    path.on_close(lambda: desks.stop(logout=True))
    sessions = {a.profile.username: a.session for a in desks.agents.values()}
    states = {name: path.state_of(name) for name in names}
    assert all(sessions.values()), f"a supervisor did not log in: {sessions}, {states}"
    return sessions


def _supervisor(path: AcdPath, workdir: Path, name: str, freq: float) -> Desk:
    phone = tone_phone(path, workdir / name, name, freq)
    wait_until(lambda: registered(path.stack, name), timeout=10, what=f"{name} registered")
    session = _log_in_supervisors(path, name)[name]
    return Desk(name, session, phone)


def _agent_phone(path: AcdPath, workdir: Path, name: str, freq: float) -> ToneParty:
    phone = tone_phone(path, workdir / name, name, freq)
    wait_until(lambda: registered(path.stack, name), timeout=10, what=f"{name} registered")
    return phone


def _talking(path: AcdPath, workdir: Path) -> Call:
    """A carrier call in the billing queue, answered by 1001 (the one agent logged in
    with skills): both send their tones and hear each other."""
    agent = _agent_phone(path, workdir, AGENT, AGENT_HZ)
    path.log_in(AGENT)
    path.wait_agent(AGENT, "IDLE")
    caller = tone_caller(path, workdir, NUMBER, CALLER_HZ)
    cid = str(path.control.wait_new_call()["cid"])
    rang = agent.run.wait_for_log("CALL ", timeout=15)[-1]
    assert f" acd={cid} " in rang, rang
    caller.run.wait_for_log("SETTLED", timeout=10)  # bridged to the agent
    path.wait_agent(AGENT, "TALKING")
    call = Call(cid, caller.talk(), agent.talk())
    _check(path, call.caller, call.agent, [], what="the call before monitoring")
    return call


# --------------------------------------------------------------------------- checks


def _expected(
    caller: ToneParty,
    agent: ToneParty,
    sups: Sequence[tuple[ToneParty, pb.MonitorMode]],
) -> dict[str, list[float]]:
    """docs/monitoring.md's mode table: who hears whom, for any number of supervisors."""
    barging = [s for s, mode in sups if mode == BARGE]
    talking_to_agent = [s for s, mode in sups if mode in (WHISPER, BARGE)]
    expected = {
        caller.name: [agent.freq, *(s.freq for s in barging)],
        agent.name: [caller.freq, *(s.freq for s in talking_to_agent)],
    }
    for sup, _ in sups:
        others = [s.freq for s in barging if s is not sup]
        expected[sup.name] = [caller.freq, agent.freq, *others]
    return expected


def _check(
    path: AcdPath,
    caller: ToneParty,
    agent: ToneParty,
    sups: Sequence[tuple[ToneParty, pb.MonitorMode]],
    *,
    what: str,
) -> None:
    """Once the parties hear what the mode table says (a switch takes a few packets to
    go through the mixer), every party hears exactly that over a whole window."""
    parties = [caller, agent, *(s for s, _ in sups)]
    expected = _expected(caller, agent, sups)

    def heard_as_expected() -> bool:
        try:
            assert_hearing(capture(parties, seconds=0.2), expected, what=what)
        except AssertionError:
            return False
        return True

    wait_until(heard_as_expected, timeout=5, interval=0, what=f"{what}: {expected}")
    assert_hearing(capture(parties), expected, what=what)
    assert path.state_of(agent.name) == "TALKING"  # monitoring never changes it


def _monitor(
    path: AcdPath,
    desk: Desk,
    mode: pb.MonitorMode,
    *,
    agent: str = AGENT,
) -> str:
    """Start a session from the ACD's API; once the supervisor's phone has answered and
    the controller reports it, its ID."""
    reply = path.acd.monitor(
        pb.MonitorRequest(actor=desk.actor, agent=agent, supervisor=desk.name, mode=mode)
    )
    assert reply.error.code == OK, reply
    session = str(reply.session_id)
    desk.phone.run.wait_for_log("CALL ", timeout=10)
    desk.phone.talk()
    _wait_event(path, eventlog.MONITOR_STARTED, session)
    _wait_monitor_view(path, session, mode)
    return session


def _switch(path: AcdPath, desk: Desk, session: str, mode: pb.MonitorMode) -> None:
    before = len(_events(path, eventlog.MONITOR_SWITCHED, session))
    reply = path.acd.switch_monitor(
        pb.SwitchMonitorRequest(actor=desk.actor, session_id=session, mode=mode)
    )
    assert reply.error.code == OK, reply
    if mode != INTERCEPT:
        _wait_event(path, eventlog.MONITOR_SWITCHED, session, count=before + 1)
        _wait_monitor_view(path, session, mode)


def _press(path: AcdPath, desk: Desk, session: str, mode: pb.MonitorMode) -> None:
    before = len(_events(path, eventlog.MONITOR_SWITCHED, session))
    desk.phone.press(KEYS[mode])
    _wait_event(path, eventlog.MONITOR_SWITCHED, session, count=before + 1)
    _wait_monitor_view(path, session, mode)


def _stop(path: AcdPath, desk: Desk, session: str) -> None:
    reply = path.acd.stop_monitor(pb.StopMonitorRequest(actor=desk.actor, session_id=session))
    assert reply.error.code == OK, reply
    desk.phone.run.wait_for_log("BYE", timeout=10)
    _wait_event(path, eventlog.MONITOR_STOPPED, session)


def _events(path: AcdPath, kind: str, session: str) -> list[eventlog.Event]:
    return [
        d.event
        for d in eventlog.replay(path.events_redis)
        if d.event.kind == kind and d.event.data.get("session") == session
    ]


def _wait_event(path: AcdPath, kind: str, session: str, *, count: int = 1) -> list[eventlog.Event]:
    wait_until(
        lambda: len(_events(path, kind, session)) >= count,
        timeout=10,
        what=f"{count} x {kind} of session {session} in the event log",
    )
    return _events(path, kind, session)


def _monitor_view(path: AcdPath, session: str) -> pb.MonitorView | None:
    return next((m for m in path.acd.get_snapshot().monitors if m.session_id == session), None)


def _wait_monitor_view(path: AcdPath, session: str, mode: pb.MonitorMode) -> None:
    def live() -> bool:
        view = _monitor_view(path, session)
        return view is not None and view.state == pb.MONITOR_STATE_ACTIVE and view.mode == mode

    wait_until(
        live,
        timeout=10,
        what=f"session {session} active in {MODE_NAMES.get(mode)} in the ACD's snapshot",
    )


def _wait_no_monitor_view(path: AcdPath, session: str) -> None:
    def gone() -> bool:
        view = _monitor_view(path, session)
        return view is None or view.state == pb.MONITOR_STATE_ENDED

    wait_until(gone, timeout=10, what=f"session {session} gone from the ACD's snapshot")


def _fields(event: eventlog.Event, *names: str) -> dict[str, str]:
    return {name: event[name] for name in names}


def _mixer(path: AcdPath) -> NgClient:
    node = path.stack.config.monitoring.mixers[0]
    host, port = split_hostport(node.ng)
    client = NgClient(host, port, timeout=1.0)
    path.on_close(client.close)
    return client


def _no_state_change(path: AcdPath, agent: str, since: float) -> None:
    """No agent.state of `agent` in the event log since `since` (a session began)."""
    moved = [
        (d.event.ts, d.event["previous"], d.event["state"])
        for d in eventlog.replay(path.events_redis)
        if d.event.kind == eventlog.AGENT_STATE
        and d.event["agent"] == agent
        and d.event.ts >= since
    ]
    assert moved == [], f"agent {agent}'s state changed while monitored: {moved}"


def _end(path: AcdPath, call: Call, *others: ToneParty, mixer: bool = True) -> None:
    """The caller hangs up: every party's dialog ends and nothing is left behind (no
    call, no rtpengine session and, with `mixer`, no mixer conference)."""
    call.caller.hang_up()
    call.caller.run.wait_for_log("HUNG_UP", timeout=10)
    for party in (call.caller, call.agent, *others):
        party.stop()
        assert party.run.wait(timeout=10) == 0, party.run.errors()
    path.wait_clean()
    if mixer:
        _no_conference_left(path)


def _no_conference_left(path: AcdPath) -> None:
    assert _mixer(path).request("list").get("conferences", []) == []


# --------------------------------------------------------------------------- tests


def test_the_harness_hears_a_plain_call_both_ways(path: AcdPath, tmp_path: Path) -> None:
    """Without monitoring: the caller hears 1 kHz, the agent 440 Hz, and neither hears a
    supervisor's 2.5 kHz (no supervisor is on the call): the checks' own baseline."""
    call = _talking(path, tmp_path)
    heard = capture([call.caller, call.agent])
    assert_hearing(heard, {"caller": [AGENT_HZ], AGENT: [CALLER_HZ]}, what="a plain call")
    assert heard["caller"].floor_dbfs < -50 and heard[AGENT].floor_dbfs < -50
    _end(path, call, mixer=False)


def test_listen_whisper_barge_switched_from_the_acd(path: AcdPath, tmp_path: Path) -> None:
    """Listen, then whisper, barge and listen again from the ACD's SwitchMonitor (the
    dashboard's buttons), on one supervisor leg: each mode's table holds; in listen the
    caller and the agent never hear the supervisor, from the request to the switch. The
    events say who, whom and which mode; the agent stays TALKING; stopping hangs up the
    supervisor and the caller and agent talk on."""
    call = _talking(path, tmp_path)
    desk = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    sup = desk.phone

    started_at = time.monotonic()
    session = _monitor(path, desk, LISTEN)
    (started,) = _events(path, eventlog.MONITOR_STARTED, session)
    assert started.correlation_id == call.cid
    assert _fields(started, "supervisor", "agent", "mode", "by", "requested_by", "mixer") == {
        "supervisor": SUPERVISOR,
        "agent": AGENT,
        "mode": "listen",
        "by": "dashboard",
        "requested_by": SUPERVISOR,
        "mixer": "mix0",
    }
    _check(path, call.caller, call.agent, [(sup, LISTEN)], what="listen")
    # Never, in the whole of listen: the supervisor's tone at the caller or the agent.
    until = time.monotonic()
    for party in (call.caller, call.agent):
        whole = window_runs(party.rtp, started_at, until)
        heard = analyse(party.name, whole, [SUPERVISOR_HZ], until - started_at)
        assert heard.silent(SUPERVISOR_HZ), heard.describe()

    previous = LISTEN
    for mode in (WHISPER, BARGE, LISTEN):
        _switch(path, desk, session, mode)
        _check(path, call.caller, call.agent, [(sup, mode)], what=f"{MODE_NAMES[mode]} (ACD)")
        switched = _events(path, eventlog.MONITOR_SWITCHED, session)[-1]
        assert _fields(switched, "supervisor", "agent", "mode", "previous", "by") == {
            "supervisor": SUPERVISOR,
            "agent": AGENT,
            "mode": MODE_NAMES[mode],
            "previous": MODE_NAMES[previous],
            "by": "dashboard",
        }
        previous = mode
    assert sup.invites() == 1  # switches never re-dial the supervisor

    _stop(path, desk, session)
    (stopped,) = _events(path, eventlog.MONITOR_STOPPED, session)
    assert _fields(stopped, "supervisor", "agent", "reason") == {
        "supervisor": SUPERVISOR,
        "agent": AGENT,
        "reason": "requested",
    }
    assert int(stopped["duration_ms"]) > 0
    _wait_no_monitor_view(path, session)
    _check(path, call.caller, call.agent, [], what="after the session stopped")
    _no_state_change(path, AGENT, started.ts)
    _end(path, call, sup)


def test_keypad_switches_modes_and_a_supervisor_who_hangs_up_leaves_the_call_going(
    path: AcdPath, tmp_path: Path
) -> None:
    """Whisper, then the supervisor's keys 6 (barge), 4 (listen), 5 (whisper): each
    switch is a monitor.switched by the keypad and each mode's table holds. Then the
    supervisor hangs up: supervisor_hangup, and the caller and agent hear each other."""
    call = _talking(path, tmp_path)
    desk = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    sup = desk.phone
    session = _monitor(path, desk, WHISPER)
    since = _events(path, eventlog.MONITOR_STARTED, session)[0].ts
    _check(path, call.caller, call.agent, [(sup, WHISPER)], what="whisper")

    previous = WHISPER
    for mode in (BARGE, LISTEN, WHISPER):
        _press(path, desk, session, mode)
        _check(path, call.caller, call.agent, [(sup, mode)], what=f"{MODE_NAMES[mode]} (keypad)")
        switched = _events(path, eventlog.MONITOR_SWITCHED, session)[-1]
        assert _fields(switched, "mode", "previous", "by") == {
            "mode": MODE_NAMES[mode],
            "previous": MODE_NAMES[previous],
            "by": "keypad",
        }
        previous = mode
    # A key that means nothing here is ignored.
    before = len(_events(path, eventlog.MONITOR_SWITCHED, session))
    sup.press("1")
    _check(path, call.caller, call.agent, [(sup, WHISPER)], what="whisper after key 1")
    assert len(_events(path, eventlog.MONITOR_SWITCHED, session)) == before

    sup.hang_up()
    sup.run.wait_for_log("HUNG_UP", timeout=10)
    sup.stop()
    (stopped,) = _wait_event(path, eventlog.MONITOR_STOPPED, session)
    assert stopped["reason"] == "supervisor_hangup"
    _wait_no_monitor_view(path, session)
    _check(path, call.caller, call.agent, [], what="after the supervisor hung up")
    _no_state_change(path, AGENT, since)
    _end(path, call, sup)


def test_a_transferred_call_stays_monitored_with_its_new_agent(
    path: AcdPath, tmp_path: Path
) -> None:
    """Barge on 1001's call, then the call is blind-transferred to 1002 (the ACD's
    TransferToAgent): the session follows it, so the supervisor hears 1002's 1.6 kHz and
    the caller and 1002 hear the supervisor; 1001 is released. Then a switch to listen
    from the ACD and to whisper from the keypad hold with the new agent too."""
    call = _talking(path, tmp_path)
    second = _agent_phone(path, tmp_path, SECOND_AGENT, SECOND_AGENT_HZ)
    desk = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    sup = desk.phone
    session = _monitor(path, desk, BARGE)
    _check(path, call.caller, call.agent, [(sup, BARGE)], what="barge")
    path.log_in(SECOND_AGENT)
    path.wait_agent(SECOND_AGENT, "IDLE")

    reply = path.acd.transfer_to_agent(
        pb.TransferToAgentRequest(call_id=call.cid, employee_id=int(SECOND_AGENT))
    )
    assert reply.error.code == OK, reply
    call.agent.run.wait_for_log("BYE", timeout=10)  # 1001's leg ends
    call.agent.stop()
    second.run.wait_for_log("CALL ", timeout=10)
    second.talk()
    path.wait_agent(SECOND_AGENT, "TALKING")
    wait_until(
        lambda: (v := _monitor_view(path, session)) is not None and v.agent == SECOND_AGENT,
        timeout=10,
        what="the session follows the call to 1002 in the ACD's snapshot",
    )
    _check(path, call.caller, second, [(sup, BARGE)], what="barge after the transfer")
    _switch(path, desk, session, LISTEN)
    _check(path, call.caller, second, [(sup, LISTEN)], what="listen after the transfer")
    _press(path, desk, session, WHISPER)
    _check(path, call.caller, second, [(sup, WHISPER)], what="whisper after the transfer")
    assert sup.invites() == 1
    assert path.state_of(AGENT) in ("WRAP_UP", "IDLE")

    _stop(path, desk, session)
    _end(path, Call(call.cid, call.caller, second), sup, call.agent)


def _intercepted(path: AcdPath, call: Call, desk: Desk, session: str) -> None:
    """After an intercept hand-over: the session ended (reason intercept), the caller and
    the supervisor hear each other on the leg the supervisor already had (it was rung
    once), the agent's phone got BYE and the agent is released at the ACD."""
    (stopped,) = _wait_event(path, eventlog.MONITOR_STOPPED, session)
    assert stopped["reason"] == "intercept"
    call.agent.run.wait_for_log("BYE", timeout=10)
    call.agent.stop()
    wait_until(
        lambda: path.state_of(AGENT) in ("WRAP_UP", "IDLE"),
        timeout=10,
        what=f"agent {AGENT} released (now {path.state_of(AGENT)})",
    )
    path.wait_agent(desk.name, "TALKING")  # the call is the supervisor's now
    sup = desk.phone
    _check_pair(call.caller, sup, what="the caller and the supervisor after intercept")
    assert sup.invites() == 1  # no re-dial
    _wait_no_monitor_view(path, session)
    _end(path, Call(call.cid, call.caller, sup), call.agent)


def _check_pair(a: ToneParty, b: ToneParty, *, what: str) -> None:
    expected = {a.name: [b.freq], b.name: [a.freq]}

    def both() -> bool:
        try:
            assert_hearing(capture([a, b], seconds=0.2), expected, what=what)
        except AssertionError:
            return False
        return True

    wait_until(both, timeout=5, interval=0, what=what)
    assert_hearing(capture([a, b]), expected, what=what)


def test_intercept_from_the_keypad_hands_the_caller_to_the_supervisor(
    path: AcdPath, tmp_path: Path
) -> None:
    call = _talking(path, tmp_path)
    desk = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    session = _monitor(path, desk, LISTEN)
    _check(path, call.caller, call.agent, [(desk.phone, LISTEN)], what="listen")
    desk.phone.press("*")
    _intercepted(path, call, desk, session)


def test_intercept_from_the_acd_hands_the_caller_to_the_supervisor(
    path: AcdPath, tmp_path: Path
) -> None:
    call = _talking(path, tmp_path)
    desk = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    session = _monitor(path, desk, WHISPER)
    _check(path, call.caller, call.agent, [(desk.phone, WHISPER)], what="whisper")
    _switch(path, desk, session, INTERCEPT)
    _intercepted(path, call, desk, session)


def _refused(reply: Any, code: int, words: str) -> None:
    assert reply.error.code == code, reply
    assert words in reply.error.message, reply.error.message


def test_refusals_say_why_and_ring_nobody(path: AcdPath, tmp_path: Path) -> None:
    """An agent may not monitor (as the actor, nor as the supervisor named); a supervisor
    may monitor only calls in its scope (1103's team is south, 1104 has no scope); a
    session that does not exist cannot be switched. No phone rings, no event is
    written, the agent stays TALKING."""
    call = _talking(path, tmp_path)
    phones = {
        name: _agent_phone(path, tmp_path, name, SUPERVISOR_HZ)
        for name in (SOUTH_SUPERVISOR, NOBODYS_SUPERVISOR)
    }
    sessions = _log_in_supervisors(path, SOUTH_SUPERVISOR, NOBODYS_SUPERVISOR, SUPERVISOR)
    mark = path.log_mark()
    agent_actor = pb.Actor(
        desk=pb.DeskSession(
            employee_id=int(SECOND_AGENT),
            session_id=path.log_in(SECOND_AGENT).agents[int(SECOND_AGENT)].session,
        )
    )

    def ask(actor: pb.Actor, supervisor: str, agent: str = AGENT) -> pb.MonitorResponse:
        return path.acd.monitor(
            pb.MonitorRequest(actor=actor, agent=agent, supervisor=supervisor, mode=LISTEN)
        )

    def desk_of(name: str) -> pb.Actor:
        return pb.Actor(desk=pb.DeskSession(employee_id=int(name), session_id=sessions[name]))

    # The role: an agent asks, for itself or for a supervisor.
    _refused(ask(agent_actor, SECOND_AGENT), pb.ERROR_CODE_PERMISSION_DENIED, "supervisor")
    _refused(ask(agent_actor, SUPERVISOR), pb.ERROR_CODE_PERMISSION_DENIED, "supervisor")
    # A supervisor names an agent's desk as the one who listens.
    refused = ask(desk_of(SUPERVISOR), SECOND_AGENT)
    assert refused.error.code != OK and "supervisor" in refused.error.message, refused
    # The scope: the call's queue is billing and 1001's team north.
    _refused(
        ask(desk_of(SOUTH_SUPERVISOR), SOUTH_SUPERVISOR),
        pb.ERROR_CODE_PERMISSION_DENIED,
        f"team north) is outside '{SOUTH_SUPERVISOR}''s supervises",
    )
    _refused(
        ask(desk_of(NOBODYS_SUPERVISOR), NOBODYS_SUPERVISOR),
        pb.ERROR_CODE_PERMISSION_DENIED,
        "may monitor nobody",
    )
    # Sending another supervisor to listen needs the call in the sender's scope too.
    _refused(
        ask(desk_of(SOUTH_SUPERVISOR), SUPERVISOR),
        pb.ERROR_CODE_PERMISSION_DENIED,
        f"is outside '{SOUTH_SUPERVISOR}''s supervises",
    )
    # A session that does not exist.
    _refused(
        path.acd.switch_monitor(
            pb.SwitchMonitorRequest(actor=desk_of(SUPERVISOR), session_id="nope", mode=BARGE)
        ),
        pb.ERROR_CODE_UNKNOWN_MONITOR_SESSION,
        "nope",
    )

    assert all(phone.invites() == 0 for phone in phones.values())
    assert not [
        d.event
        for d in eventlog.replay(path.events_redis, from_id=mark)
        if d.event.kind.startswith("monitor.")
    ]
    assert list(path.acd.get_snapshot().monitors) == []
    assert path.state_of(AGENT) == "TALKING"
    _end(path, call)  # the supervisors' phones, never rung, stop with the test


def test_monitoring_a_call_that_ends_stops_cleanly(path: AcdPath, tmp_path: Path) -> None:
    """The caller hangs up while a supervisor listens: the supervisor's leg gets BYE,
    monitor.stopped says call_ended, the session leaves the snapshot, and no call,
    rtpengine session or mixer conference is left."""
    call = _talking(path, tmp_path)
    desk = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    session = _monitor(path, desk, LISTEN)
    _check(path, call.caller, call.agent, [(desk.phone, LISTEN)], what="listen")
    assert _mixer(path).request("list").get("conferences")

    call.caller.hang_up()
    desk.phone.run.wait_for_log("BYE", timeout=10)
    (stopped,) = _wait_event(path, eventlog.MONITOR_STOPPED, session)
    assert _fields(stopped, "supervisor", "agent", "reason") == {
        "supervisor": SUPERVISOR,
        "agent": AGENT,
        "reason": "call_ended",
    }
    _wait_no_monitor_view(path, session)
    _end_after_hang_up(path, call, desk.phone)


def _end_after_hang_up(path: AcdPath, call: Call, *others: ToneParty) -> None:
    call.caller.run.wait_for_log("HUNG_UP", timeout=10)
    for party in (call.caller, call.agent, *others):
        party.stop()
        assert party.run.wait(timeout=10) == 0, party.run.errors()
    path.wait_clean()
    _no_conference_left(path)


def test_two_supervisors_on_one_call(path: AcdPath, tmp_path: Path) -> None:
    """1101 listens and 1102 (by its team scope) barges on the same call: the caller and
    the agent hear 1102 and not 1101; 1101 hears the caller, the agent and 1102; 1102
    the caller and the agent, not 1101. When 1102 whispers instead, 1101 no longer
    hears it. 1102 stops: 1101 listens on. The agent stays TALKING throughout."""
    call = _talking(path, tmp_path)
    first = _supervisor(path, tmp_path, SUPERVISOR, SUPERVISOR_HZ)
    second = _supervisor(path, tmp_path, TEAM_SUPERVISOR, SECOND_SUPERVISOR_HZ)
    one = _monitor(path, first, LISTEN)
    since = _events(path, eventlog.MONITOR_STARTED, one)[0].ts
    two = _monitor(path, second, BARGE)
    assert one != two
    both = [(first.phone, LISTEN), (second.phone, BARGE)]
    _check(path, call.caller, call.agent, both, what="listen + barge")
    _switch(path, second, two, WHISPER)
    both = [(first.phone, LISTEN), (second.phone, WHISPER)]
    _check(path, call.caller, call.agent, both, what="listen + whisper")
    views = {m.session_id: m.supervisor for m in path.acd.get_snapshot().monitors}
    assert views == {one: SUPERVISOR, two: TEAM_SUPERVISOR}

    _stop(path, second, two)
    _check(path, call.caller, call.agent, [(first.phone, LISTEN)], what="listen, alone again")
    _stop(path, first, one)
    _no_state_change(path, AGENT, since)
    _end(path, call, first.phone, second.phone)
