"""A supervisor intercepts through the ACD (acd.v1 `Intercept`, what the dashboards'
Supervisor page sends): every process real (conftest.py).

The ACD checks the actor, the call and the supervisor, then sends `InterceptCall` on
WatchActions; the controller replica that owns the call runs its own intercept path
(test_intercept_via_acd.py, which reserves the supervisor at the ACD first). The
driver's side of it against fakes is in test_side_reservations.py.
"""

from __future__ import annotations

from acd_api.v1 import acd_pb2 as pb
from simulators import free_port
from tests.controller.acd_driver.conftest import (
    CTL_NODE,
    OK,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    password_of,
    trigger,
)
from tests.controller.acd_driver.test_intercept_via_acd import (
    SUPERVISOR,
    _first_media,
    _supervisor_took_over,
    _talking_with_1001,
    _view,
    _wait_view,
)
from tests.controller.acd_driver.test_transfer_via_acd import _settled_media
from tests.controller.call_parties import talk


def _as(account: str) -> pb.Actor:
    """The account's own credentials, as the Supervisor page sends them."""
    return pb.Actor(admin=pb.AdminCredentials(username=account, password=password_of(account)))


def test_a_supervisor_intercepts_over_grpc_and_takes_the_call_the_agent_wraps_up(rig: Rig) -> None:
    """A queue call bridged with 1001; `Intercept` names the agent (as the wallboard
    shows it) with the supervisor's credentials: the supervisor's phone rings, answers,
    and the caller's RTP now reaches it and only it (counted at each party); 1001 gets
    BYE and wraps up; the supervisor is idle once the call ends."""
    rig.agent_ports[SUPERVISOR] = free_port()
    rig.agents("1001", SUPERVISOR, supervisors=(SUPERVISOR,))  # 1001 idle the longest
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    supervisor = rig.phone(SUPERVISOR, "ctl_party", pause_ms=500)
    cid = new_cid()
    rid = f"{cid}.intercept1"  # the controller's reservation, as for its own command
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        agent_media = _first_media(agent)

        reply = rig.client.intercept(
            pb.InterceptRequest(actor=_as(SUPERVISOR), agent="1001", supervisor=SUPERVISOR)
        )

        assert reply.error.code == OK, reply.error
        assert reply.call_id == cid
        seen = supervisor.run.wait_for_log("CALL", timeout=10)[0]
        assert f"cid={cid}" in seen and f"to={SUPERVISOR}" in seen
        _supervisor_took_over(
            rig,
            controller,
            cid,
            caller=caller,
            agent=agent,
            agent_media=agent_media,
            supervisor=supervisor,
        )
        assert "asks for an intercept by 1003 (requested by 1003)" in controller.log_text()

    events = rig.ended_events(cid)
    assert [(k, d.get("agent") or d.get("mode")) for k, n, d in calls(events) if n == CTL_NODE] == [
        ("call.arrived", None),
        ("call.ringing", "1001"),
        ("call.answered", "1001"),
        ("call.ringing", SUPERVISOR),
        ("call.transferred", "intercept"),
        ("call.answered", SUPERVISOR),
        ("call.ended", None),
    ]
    assert agent_states(events, "1001") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    assert agent_states(rig.events(rid), SUPERVISOR) == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "idle"),
    ]


def test_a_plain_agents_credentials_are_refused_and_nothing_changes(rig: Rig) -> None:
    """1002 (logged in as an agent) asks to intercept 1001's call for the supervisor:
    PERMISSION_DENIED, no InterceptCall, the supervisor never rings, the call stays
    bridged with RTP both ways and nobody's ACD state moves."""
    rig.agent_ports[SUPERVISOR] = free_port()  # no phone there: it must never ring
    rig.agents("1001", "1002", SUPERVISOR, supervisors=(SUPERVISOR,))
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)

        reply = rig.client.intercept(
            pb.InterceptRequest(actor=_as("1002"), call_id=cid, supervisor=SUPERVISOR)
        )

        assert reply.error.code == pb.ERROR_CODE_PERMISSION_DENIED, reply
        assert list(reply.actions) == [] and reply.call_id == ""
        # The exchange is the window in which a wrongly sent intercept would show.
        talk(caller.rtp, _settled_media(caller), agent.rtp, _first_media(agent))
        assert controller.call(cid)["state"] == "bridged"  # type: ignore[index]
        assert len(caller.lines("REINVITE ")) == 1, "the caller was never moved"
        assert (_view(rig, "1001"), _view(rig, "1002"), _view(rig, SUPERVISOR)) == (
            ("TALKING", cid),
            ("IDLE", ""),
            ("IDLE", ""),
        )
        assert "intercept" not in controller.log_text()
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        _wait_view(rig, "1001", "WRAP_UP", "")
    assert [k for k, n, _ in calls(rig.ended_events(cid)) if n == CTL_NODE].count(
        "call.ringing"
    ) == 1
