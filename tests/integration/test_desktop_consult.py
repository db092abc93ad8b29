"""Attended transfers through the desktop's API (`POST /api/consult`, `/complete`,
`/cancel`) with the real call controller: no browser. `callcenter up` runs the desktop
beside Kamailio, rtpengine, the controller and the ACD; the test is the page's HTTPS
client (a session cookie and its CSRF token).

The agent (1001) logs in through the desktop and takes a queued carrier call on its
desk phone (sipp, registered over UDP); 1002 is logged in at the ACD with a desk phone
too. A consult rings 1002 from 1001 while the caller, parked, hears hold music; the
agent and the target talk. Complete: the caller talks with the target, the agent's leg
ends. Cancel: the target's leg ends, the caller talks with the agent again. Audio is
checked by marked RTP packets through rtpengine (testbed.exchange).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from simulators import RtpEndpoint, SippRun, free_port, scenario_path
from testbed import (
    AcdPath,
    Party,
    acd_path_config,
    carrier_call,
    exchange,
    hang_up,
    media_of,
    non_silent,
    registered,
    running_acd_path,
    start_phone,
    track,
    wait_until,
    wss_ca_file,
    wss_config,
)

AGENT = "1001"  # logs in through the desktop, consults
TARGET = "1002"  # logged in at the ACD, the consult's target
NUMBER = "95598"
QUEUE = "billing"
DESK_CALLER = scenario_path("desk_caller")  # parked, bridged: answers every re-INVITE


@pytest.fixture(scope="module")
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AcdPath, str]]:
    workdir = tmp_path_factory.mktemp("deskconsult")
    config, passwords = acd_path_config(
        workdir,
        (AGENT, TARGET),
        numbers=[
            {
                "number": NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "queue": QUEUE,
            }
        ],
        queues=[{"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 8000}],
        skills={"billing": 2},
        controller_name="consult-ctl0",
    )
    wss_config(workdir, config)  # the desktop serves HTTPS with the same certificate
    listen = f"127.0.0.1:{free_port()}"
    config["bizdata"] = {}
    config["desktop"] = {"listen": listen, "session_idle_s": 60}
    with running_acd_path(request, workdir, config, passwords) as path:
        yield path, f"https://{listen}"


class DeskClient:
    """The page's side of the API: a session cookie and the CSRF token."""

    def __init__(self, url: str, ca_file: str) -> None:
        self.url = url
        self.http = requests.Session()
        # Per request: a session's `verify` loses to REQUESTS_CA_BUNDLE from the
        # environment (requests' own merge order).
        self.ca_file = ca_file
        self.csrf = ""

    def login(self, username: str, password: str) -> dict[str, Any]:
        body: dict[str, Any] = {"username": username, "password": password, "seat": "1"}
        body |= {"employee_id": username, "role": "agent", "skills": {}}
        session: dict[str, Any] = self.post("/api/login", body, status=200)
        self.csrf = session["csrf_token"]
        return session

    def post(self, route: str, body: dict[str, Any], *, status: int = 200) -> Any:
        reply = self.http.post(
            self.url + route,
            json=body,
            headers={"X-CSRF-Token": self.csrf},
            timeout=10,
            verify=self.ca_file,
        )
        assert reply.status_code == status, (route, reply.status_code, reply.text)
        return reply.json() if reply.content else None

    def close(self) -> None:
        """Log out (if still logged in: the next test logs in again), and close."""
        if self.csrf:
            self.http.post(
                self.url + "/api/logout",
                headers={"X-CSRF-Token": self.csrf},
                timeout=10,
                verify=self.ca_file,
            )
        self.http.close()


class Phone:
    """A desk phone (sipp, sipp/desk_agent.xml) registered over UDP, and its RTP."""

    def __init__(self, path: AcdPath, workdir: Path, user: str) -> None:
        self.rtp = RtpEndpoint()
        path.on_close(self.rtp.close)
        phone = start_phone(
            path.stack, user, workdir=workdir, scenario="desk_agent", rtp_port=self.rtp.port
        )
        self.run: SippRun = track(phone.run)
        wait_until(lambda: registered(path.stack, user), timeout=10, what=f"{user} registered")

    def media(self) -> tuple[str, int]:
        """Where its peer wants its media now: the last re-INVITE's, else the INVITE's."""
        return _latest(self.run, "CALL ")


def _latest(run: SippRun, first: str) -> tuple[str, int]:
    lines = [ln for ln in run.log_lines() if ln.startswith(("REINVITE ", first))]
    return media_of(lines[-1])


def _reinvites(run: SippRun) -> int:
    return sum(1 for ln in run.log_lines() if ln.startswith("REINVITE "))


@dataclass
class OnCall:
    """1001 (through the desktop) talking with a carrier call on its desk phone."""

    client: DeskClient
    agent: Phone
    target: Phone
    caller: Party
    cid: str


def _answered_call(path: AcdPath, url: str, workdir: Path) -> OnCall:
    """1001 logged in through the desktop, talking on its desk phone with a carrier
    call; 1002 logged in at the ACD (after the call reached 1001), its phone registered."""
    agent_phone = Phone(path, workdir / "agent", AGENT)
    target_phone = Phone(path, workdir / "target", TARGET)
    client = DeskClient(url, wss_ca_file(path.stack))
    path.on_close(client.close)
    client.login(AGENT, path.stack.passwords[AGENT])
    path.wait_agent(AGENT, "IDLE")
    caller = carrier_call(path, workdir, NUMBER, scenario=DESK_CALLER)
    cid = str(path.control.wait_new_call()["cid"])
    rang = agent_phone.run.wait_for_log("CALL ", timeout=15)[-1]
    assert f" acd={cid} " in rang, rang
    caller.run.wait_for_log("SETTLED", timeout=10)
    path.wait_agent(AGENT, "TALKING")
    path.log_in(TARGET)
    path.wait_agent(TARGET, "IDLE")
    return OnCall(client, agent_phone, target_phone, caller, cid)


def _consult(path: AcdPath, call: OnCall) -> None:
    """Consult 1002: it rings from 1001 and answers; the caller, parked, hears hold
    music; the agent and the target hear each other."""
    caller, agent, target = call.caller, call.agent, call.target
    parked_at = _reinvites(caller.run) + 1
    call.client.post("/api/consult", {"call_id": call.cid, "to_agent": TARGET})
    rang = target.run.wait_for_log("CALL ", timeout=15)[-1]
    assert f" caller={AGENT} " in rang, rang
    path.control.wait_state(call.cid, "consulting")
    caller.run.wait_for_log("REINVITE ", count=parked_at, timeout=10)
    heard_before = non_silent(caller.rtp)
    wait_until(
        lambda: non_silent(caller.rtp) >= heard_before + 25,
        timeout=10,
        what="the parked caller hears hold music",
    )
    to_target, to_agent = exchange(agent.rtp, agent.media(), target.rtp, target.media())
    assert to_target >= 48 and to_agent >= 48


def _ends(call: OnCall) -> None:
    for run in (call.caller.run, call.agent.run, call.target.run):
        assert run.wait(timeout=10) == 0, run.errors()


def test_consult_then_complete_hands_the_caller_to_the_target(
    desk: tuple[AcdPath, str], tmp_path: Path
) -> None:
    path, url = desk
    with path.for_one_test((AGENT, TARGET)):
        call = _answered_call(path, url, tmp_path)
        # Only the agent on the call may consult on it.
        call.client.post("/api/consult", {"call_id": "nosuchcall", "to_agent": TARGET}, status=403)
        _consult(path, call)

        call.client.post("/api/consult/complete", {"call_id": call.cid})
        call.agent.run.wait_for_log("BYE", timeout=10)  # the agent's leg ends
        path.control.wait_state(call.cid, "bridged")
        caller, target = call.caller, call.target
        to_target, to_caller = exchange(
            caller.rtp, _latest(caller.run, "ANSWERED"), target.rtp, target.media()
        )
        assert to_target >= 48 and to_caller >= 48
        path.wait_agent(TARGET, "TALKING")

        hang_up(caller)
        target.run.wait_for_log("BYE", timeout=10)
        _ends(call)
        path.wait_clean()


def test_consult_then_cancel_returns_the_caller_to_the_agent(
    desk: tuple[AcdPath, str], tmp_path: Path
) -> None:
    path, url = desk
    with path.for_one_test((AGENT, TARGET)):
        call = _answered_call(path, url, tmp_path)
        _consult(path, call)

        call.client.post("/api/consult/cancel", {"call_id": call.cid})
        call.target.run.wait_for_log("BYE", timeout=10)  # the target's leg ends
        path.control.wait_state(call.cid, "bridged")
        caller, agent = call.caller, call.agent
        to_agent, to_caller = exchange(
            caller.rtp, _latest(caller.run, "ANSWERED"), agent.rtp, agent.media()
        )
        assert to_agent >= 48 and to_caller >= 48
        path.wait_agent(AGENT, "TALKING")

        hang_up(caller)
        agent.run.wait_for_log("BYE", timeout=10)
        _ends(call)
        path.wait_clean()
