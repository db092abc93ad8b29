"""Each agent-selection strategy, and skill filtering, on the whole call path.

One `callcenter up` stack (testbed.running_acd_path) holds a queue per strategy, each
with its own number, as the YAML config sets them (acd/_strategies.py lists them;
`queues[].strategy` in configuration/_schema.py). Two agents: 1001 (billing 1) and 1002
(billing 5, and the only one with `special`). Each test logs them in in an order that
makes the strategy's choice differ from "longest idle", places calls one after
another, and checks whose registered phone received each INVITE through the edge.
Queues have no wrap-up, so an agent is idle again as soon as its call ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import (
    AcdPath,
    Party,
    acd_path_config,
    agent_phone,
    carrier_call,
    hang_up,
    log_value,
    running_acd_path,
    wait_until,
)

pytestmark = pytest.mark.integration

AGENTS = ("1001", "1002")
SKILLS = {"1001": {"billing": 1}, "1002": {"billing": 5, "special": 1}}
# Calls each phone answers: more than any test places, so a wrong pick is answered too.
PHONE_CALLS = 10
# strategy (or what the queue tests) -> (number, queue spec)
QUEUES = {
    "round_robin": ("95501", {"skills": {"billing": 1}}),
    "fewest_calls": ("95502", {"skills": {"billing": 1}}),
    "skill_level_first": ("95503", {"skills": {"billing": 1}}),
    "ring_all": ("95504", {"skills": {"billing": 1}, "max_no_answers": 0}),
    "skill_filter": ("95505", {"skills": {"special": 1}, "strategy": "longest_idle"}),
}


@pytest.fixture(scope="module")
def running_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcdPath]:
    workdir = tmp_path_factory.mktemp("strategies")
    config, passwords = acd_path_config(
        workdir,
        AGENTS,
        numbers=[
            {"number": number, "category": name, "target": "controller", "queue": name}
            for name, (number, _) in QUEUES.items()
        ],
        queues=[
            {"name": name, "strategy": name, "ring_timeout_ms": 5000, "wrap_up_ms": 0} | spec
            for name, (_, spec) in QUEUES.items()
        ],
        skills={},
        controller_name="strat-ctl0",
    )
    for account in config["accounts"]:
        account["skills"] = SKILLS[account["username"]]
    with running_acd_path(request, workdir, config, passwords) as path:
        yield path


@pytest.fixture
def path(running_path: AcdPath) -> Iterator[AcdPath]:
    """The stack, with no registration and nobody logged in; left the same way."""
    with running_path.for_one_test(AGENTS) as path:
        yield path


def _rung(phone: Party) -> list[str]:
    return [line for line in phone.run.log_lines() if line.startswith("CALL ")]


def _call(path: AcdPath, workdir: Path, queue: str, phones: dict[str, Party]) -> str:
    """One carrier call to `queue`'s number, answered and hung up by the caller. Returns
    the agent whose phone received the INVITE; no other phone received one, and the
    call rang nobody else first (one `call.ringing`)."""
    before = {agent: len(_rung(phone)) for agent, phone in phones.items()}
    caller = carrier_call(path, workdir / f"call{sum(before.values())}", QUEUES[queue][0])

    def reached() -> list[str]:
        return [a for a, phone in phones.items() if len(_rung(phone)) > before[a]]

    wait_until(reached, timeout=10, what=f"a phone rung for a {queue} call")
    (agent,) = reached()
    cid = log_value(_rung(phones[agent])[-1], "cid")
    caller.run.wait_for_log("SETTLED", timeout=10)  # bridged to the agent, ACKed
    path.wait_agent(agent, "TALKING")
    hang_up(caller)
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    phones[agent].run.wait_for_log("BYE", timeout=10)
    path.wait_agent(agent, "IDLE")
    assert reached() == [agent], reached()
    rang = [e["agent"] for e in path.ended_events(cid) if e.kind == "call.ringing"]
    assert rang == [agent], rang
    return agent


def _phones(path: AcdPath, workdir: Path) -> dict[str, Party]:
    """Both agents' answering phones, registered."""
    return {
        agent: agent_phone(path, workdir, agent, "ctl_via_edge_agent", calls=PHONE_CALLS)
        for agent in AGENTS
    }


def test_round_robin_takes_employee_ids_in_turn(path: AcdPath, workdir: Path) -> None:
    """1002 is idle the longest, but round robin starts at the lowest employee ID and
    then takes the next one after the last served, wrapping: 1001, 1002, 1001
    (longest idle would give 1002, 1001, 1002)."""
    phones = _phones(path, workdir)
    path.log_in("1002", "1001")
    assert [_call(path, workdir, "round_robin", phones) for _ in range(3)] == [
        "1001",
        "1002",
        "1001",
    ]


def test_fewest_calls_prefers_the_agent_with_fewer_answered_calls(
    path: AcdPath, workdir: Path
) -> None:
    """1001 takes a call, then 1002 logs in: 1001 has been idle longer, but 1002 has
    answered fewer calls since login, so the next call rings 1002."""
    phones = _phones(path, workdir)
    path.log_in("1001")
    assert _call(path, workdir, "fewest_calls", phones) == "1001"
    path.log_in("1002")
    assert path.agent_view("1001").calls == 1  # type: ignore[union-attr]
    assert _call(path, workdir, "fewest_calls", phones) == "1002"


def test_skill_level_first_prefers_the_higher_level_every_time(
    path: AcdPath, workdir: Path
) -> None:
    """1001 (billing 1) is idle the longest; 1002 (billing 5) gets both calls."""
    phones = _phones(path, workdir)
    path.log_in("1001", "1002")
    assert [_call(path, workdir, "skill_level_first", phones) for _ in range(2)] == ["1002", "1002"]


def test_ring_all_rings_the_longest_idle_agent_first(path: AcdPath, workdir: Path) -> None:
    """The ACD offers both agents; the controller does not fork yet (docs/acd.md): it
    rings the first Offer, the longest idle (1002), and refuses the other. 1001 is
    left idle, not penalised (max_no_answers 0), and its phone never rings."""
    phones = _phones(path, workdir)
    path.log_in("1002", "1001")
    assert _call(path, workdir, "ring_all", phones) == "1002"
    assert path.state_of("1001") == "IDLE"


def test_a_queue_rings_only_agents_with_its_skill(path: AcdPath, workdir: Path) -> None:
    """`skill_filter` needs `special`, which only 1002 has: though 1001 is idle the
    longest (the queue's strategy), both calls ring 1002."""
    phones = _phones(path, workdir)
    path.log_in("1001", "1002")
    assert [_call(path, workdir, "skill_filter", phones) for _ in range(2)] == ["1002", "1002"]
    assert path.state_of("1001") == "IDLE"
