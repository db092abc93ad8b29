"""Pure logic of the ACD driver, the CLI, the config and the stack plan (no processes).

The driver runs against fakes here: a fake controller whose commands publish the
events the real service would, a fake ACD that answers each RPC from a script, and
the SIP loop and the RPC workers as two lists the test drains by hand. The real
path, with every process, is in the other test files of this directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.message import Message

from acd import CancelRing, Offer
from acd_api.v1 import acd_pb2 as pb
from acdsvc._convert import action_from_dict, action_to_proto
from acdsvc._events import to_log_events
from callcenter._stack import controller_argv
from configuration import ConfigError, load_config
from controller._acd_calls import DrivenCall
from controller._acd_driver import AcdDriver
from controller._acd_options import AcdOptions, ring_time
from controller._app import parse_args
from controller._number_map import parse_number_map
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_NO_ANSWER,
    CALL_RINGING,
    Event,
)

CID = "c" * 32
OPTIONS = AcdOptions(addresses=("127.0.0.1:1",), queue_for={"95598": "billing"})


def action(commit: str, **kind: Message) -> pb.Action:
    return pb.Action(commit_id=commit, **kind)  # type: ignore[arg-type]


def offer(commit: str, eid: int, *, cid: str = CID, username: str | None = None) -> pb.Action:
    return action(
        commit,
        offer=pb.Offer(
            call_id=cid,
            employee_id=eid,
            seat=eid - 1000,
            username=str(eid) if username is None else username,
            ring_timeout_seconds=20.0,
            queue="billing",
        ),
    )


class World:
    """The driver between a fake controller and a fake ACD."""

    def __init__(self, options: AcdOptions = OPTIONS) -> None:
        self.loop: list[Callable[[], None]] = []
        self.jobs: list[Callable[[], None]] = []
        self.sent: list[tuple[str, Any]] = []
        self.replies: dict[str, Callable[[Any], Message]] = {}
        self.commands: list[dict[str, Any]] = []
        self.published: list[Event] = []
        self.reachable = {"1001", "1002"}  # agents the fake controller can ring
        self.legs = 1
        self.ringing: dict[str, str] = {}  # leg -> agent
        self.state: str | None = "parked"  # what `call` says of the call; None: no such call
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.driver = AcdDriver(
            options,
            self,
            post=self.loop.append,
            later=self.later,
            submit=lambda key, job: self.jobs.append(job),
        )
        self.tap = self.driver.tap(self)
        self.driver.bind(self.execute)

    # the fake ACD (AcdRpc)
    def call(
        self,
        method: str,
        request: Message,
        reply_type: type[Any],
        *,
        retry_for: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Any:
        self.sent.append((method, request))
        handler = self.replies.get(method)
        return handler(request) if handler is not None else reply_type()

    # the event log behind the tap
    def publish(self, event: Event) -> None:
        self.published.append(event)

    def later(self, delay_s: float, callback: Callable[[], None]) -> World:
        self.timers.append((delay_s, callback))
        return self

    def cancel(self) -> None:
        self.timers.clear()

    # the fake controller: its commands publish what the service would
    def emit(self, kind: str, **data: str) -> None:
        self.tap.publish(Event.new(kind, correlation_id=CID, node="ctl", **data))

    def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self.commands.append(dict(request))
        cmd = request["cmd"]
        if cmd == "connect":
            agent = request["agents"][0]
            if agent in self.reachable:
                self.legs += 1
                leg = f"L{self.legs}"
                self.ringing[leg] = agent
                self.emit(
                    CALL_RINGING, agent=agent, seat=request["seats"][agent], leg_id=leg, attempt="1"
                )
        elif cmd == "release":
            for leg, agent in list(self.ringing.items()):
                del self.ringing[leg]
                self.emit(CALL_NO_ANSWER, agent=agent, leg_id=leg)
        elif cmd == "hangup":
            self.emit(CALL_ENDED, cause="200", side="system")
        elif cmd == "call":
            if self.state is None:
                return {"ok": False, "error": f"no such call {request.get('cid')}"}
            return {"ok": True, "result": {"cid": request.get("cid"), "state": self.state}}
        return {"ok": True, "result": {"cid": request.get("cid")}}

    # driving
    def run(self) -> None:
        """Run the loop and the RPC jobs until both are idle."""
        while self.loop or self.jobs:
            while self.loop:
                self.loop.pop(0)()
            while self.jobs:
                self.jobs.pop(0)()

    def arrive(self, dialled: str = "95598") -> None:
        self.emit(CALL_ARRIVED, trunk="", caller="139", dialled=dialled, category="bill")
        self.run()

    def feed(self, *actions: pb.Action) -> None:
        for a in actions:
            self.driver._on_feed_action(a)
        self.run()

    def cmds(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.commands if c["cmd"] == name]

    def rpcs(self, method: str | None = None) -> list[Any]:
        return [r if method else (m, r) for m, r in self.sent if method in (None, m)]


def enqueued_with(*actions: pb.Action) -> Callable[[Any], Message]:
    return lambda request: pb.EnqueueResponse(actions=list(actions))


def test_the_offer_in_the_reply_and_on_the_feed_rings_once() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    assert [c["cmd"] for c in w.commands] == ["answer", "connect"]
    (enqueue,) = w.rpcs("Enqueue")
    assert (enqueue.call_id, enqueue.queue, enqueue.caller, enqueue.category) == (
        CID,
        "billing",
        "139",
        "bill",
    )
    assert w.cmds("connect")[0] == {
        "cmd": "connect",
        "cid": CID,
        "agents": ["1001"],
        "seats": {"1001": "1"},
        "acd_call_id": CID,  # the phone's X-Huaan-Call-Id
        "ring_timeout_s": 19.5,
    }
    w.feed(offer("5-0", 1001))
    w.feed(offer("4-0", 1002))  # older than what was acted on
    assert len(w.cmds("connect")) == 1


def test_another_replicas_call_is_ignored_on_the_feed_thread() -> None:
    w = World()
    w.feed(offer("9-0", 1001, cid="d" * 32))
    assert w.commands == [] and w.loop == []


def test_answered_no_answer_and_hangup_go_back_with_the_employee_id() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.replies["NoAnswer"] = lambda r: pb.NoAnswerResponse(actions=[offer("6-0", 1002)])
    w.arrive()
    w.emit(CALL_NO_ANSWER, agent="1001", leg_id="L2")
    w.run()
    assert [(r.call_id, r.employee_id) for r in w.rpcs("NoAnswer")] == [(CID, 1001)]
    assert w.cmds("connect")[1]["agents"] == ["1002"]
    w.emit(CALL_ANSWERED, agent="1002", seat="2", leg_id="L3")
    w.emit(CALL_ENDED, cause="200", side="agent")
    w.run()
    assert [(r.call_id, r.employee_id) for r in w.rpcs("Answered")] == [(CID, 1002)]
    (hangup,) = w.rpcs("Hangup")
    assert (hangup.call_id, hangup.side) == (CID, pb.HANGUP_SIDE_AGENT)
    assert w.rpcs("Abandon") == []


def test_an_agent_without_an_address_is_a_no_answer_at_once() -> None:
    w = World()
    w.reachable = set()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    assert [r.employee_id for r in w.rpcs("NoAnswer")] == [1001]


def test_one_agent_rings_at_a_time_a_second_offer_gets_no_answer() -> None:
    """ring_all would offer several agents in one commit; the controller does not fork."""
    w = World()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001), offer("5-0", 1002))
    w.arrive()
    assert [c["agents"] for c in w.cmds("connect")] == [["1001"]]
    assert [r.employee_id for r in w.rpcs("NoAnswer")] == [1002]


def test_cancel_ring_releases_the_ring_and_reports_no_no_answer() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.feed(action("6-0", cancel_ring=pb.CancelRing(call_id=CID, employee_id=1002)))
    assert w.cmds("release") == []  # not the agent who rings
    w.feed(action("7-0", cancel_ring=pb.CancelRing(call_id=CID, employee_id=1001)))
    assert len(w.cmds("release")) == 1
    assert [e.kind for e in w.published][-1] == CALL_NO_ANSWER
    assert w.rpcs("NoAnswer") == []


def test_caller_leaves_before_an_answer_is_an_abandon_or_a_hangup_if_the_acd_says_so() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    w.replies["Abandon"] = lambda r: pb.AbandonResponse(
        error=pb.Error(code=pb.ERROR_CODE_CALL_ALREADY_ANSWERED, message="use Hangup")
    )
    w.arrive()
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert [m for m, _ in w.rpcs()] == ["Enqueue", "Abandon", "Hangup"]
    assert w.rpcs("Hangup")[0].side == pb.HANGUP_SIDE_CALLER
    assert CID not in w.driver.calls


def test_a_call_that_ends_before_its_enqueue_ran_costs_the_acd_nothing() -> None:
    w = World()
    w.emit(CALL_ARRIVED, trunk="", caller="139", dialled="95598", category="")
    w.loop.pop(0)()  # answered, Enqueue queued but not sent yet
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert w.sent == []


def test_route_and_undelivered_hang_up_with_their_cause_and_nothing_is_reported() -> None:
    for kind, body, cause in (
        (
            "route",
            pb.Route(call_id=CID, target="voicemail", reason="MAX_WAIT"),
            "overflow:voicemail",
        ),
        ("undelivered", pb.Undelivered(call_id=CID, reason="NO_ANSWER"), "undelivered:NO_ANSWER"),
    ):
        w = World()
        w.replies["Enqueue"] = enqueued_with()
        w.arrive()
        w.feed(action("8-0", **{kind: body}))
        (ended,) = [e for e in w.published if e.kind == CALL_ENDED]
        assert dict(ended.data) == {"cause": cause, "side": "system"}
        assert [m for m, _ in w.rpcs()] == ["Enqueue"]


def test_only_the_drivers_own_hangups_get_a_cause_of_their_own() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    w.arrive()
    w.emit(CALL_ENDED, cause="200", side="system")  # e.g. an operator's hangup command
    assert dict(w.published[-1].data) == {"cause": "200", "side": "system"}


def test_a_refused_enqueue_hangs_up_with_the_reason_and_sends_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = World()
    w.replies["Enqueue"] = lambda r: pb.EnqueueResponse(
        error=pb.Error(code=pb.ERROR_CODE_UNKNOWN_QUEUE, message="no queue 'billing'")
    )
    with caplog.at_level(logging.ERROR, "controller.acd"):
        w.arrive()
    assert dict(w.published[-1].data) == {"cause": "acd refused:UNKNOWN_QUEUE", "side": "system"}
    assert [m for m, _ in w.rpcs()] == ["Enqueue"]
    assert "refused the call for queue billing (UNKNOWN_QUEUE: no queue 'billing')" in caplog.text


def test_a_refused_answered_keeps_the_call_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.replies["Answered"] = lambda r: pb.AnsweredResponse(
        error=pb.Error(code=pb.ERROR_CODE_NOT_RINGING, message="agent 1001 is not ringing")
    )
    w.arrive()
    with caplog.at_level(logging.ERROR, "controller.acd"):
        w.emit(CALL_ANSWERED, agent="1001", seat="1", leg_id="L2")
        w.run()
    assert "refused Answered by agent 1001 (NOT_RINGING" in caplog.text
    assert w.cmds("hangup") == []
    w.feed(offer("9-0", 1002))  # the ACD's ring timer re-offered the talking call
    assert len(w.cmds("connect")) == 1


def test_an_unmapped_number_is_hung_up_before_anything_is_sent() -> None:
    w = World()
    w.arrive(dialled="12345")
    assert [c["cmd"] for c in w.commands] == ["hangup"]
    assert dict(w.published[-1].data) == {"cause": "no queue", "side": "system"}
    assert w.sent == []


def test_the_enqueue_guard_hangs_up_a_call_the_acd_never_took() -> None:
    w = World()
    w.emit(CALL_ARRIVED, trunk="", caller="139", dialled="95598", category="")
    w.loop.pop(0)()  # answered; the Enqueue job is stuck behind others
    ((delay, fire),) = w.timers
    assert delay == pytest.approx(OPTIONS.enqueue_timeout_s + OPTIONS.rpc_timeout_s, abs=0.1)
    fire()
    assert dict(w.published[-1].data) == {"cause": "acd unavailable", "side": "system"}
    w.run()
    assert w.sent == []  # the stuck job saw the call gone and sent nothing


def test_the_tap_forwards_every_event_even_when_the_driver_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = World()

    def broken(event: Event) -> None:
        raise RuntimeError("bug")

    w.driver.observe = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, "controller.acd"):
        w.emit(CALL_ARRIVED, trunk="", caller="139", dialled="95598", category="")
    assert [e.kind for e in w.published] == [CALL_ARRIVED]
    assert "reacting to call.arrived failed" in caplog.text


# ---------------------------------------------------------------- options and CLI


def test_ring_time_leaves_the_acd_a_margin() -> None:
    assert ring_time(20.0, 0.5) == 19.5
    assert ring_time(1.0, 0.5) == 0.75  # at most a quarter less
    assert ring_time(0.0, 0.5) is None


def test_queue_for_parsing() -> None:
    assert parse_number_map("95598=billing, 95599 = sales", "QUEUE") == {
        "95598": "billing",
        "95599": "sales",
    }
    for bad, message in (
        ("95598", "expected NUMBER=QUEUE"),
        ("=q", "expected NUMBER=QUEUE"),
        ("1=a,1=b", "mapped twice"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_number_map(bad, "QUEUE")


BASE = ["--sip", "127.0.0.1:5070", "--rtpengine", "127.0.0.1:2223"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--queue-for", "1=a"], "--queue-for and --default-queue need --acd"),
        (["--acd", "nowhere"], "--acd: expected HOST:PORT, got 'nowhere'"),
        (["--acd", "127.0.0.1:1", "--queue-for", "1=a", "--queue-for", "1=b"], "mapped twice"),
        (["--acd", "127.0.0.1:1", "--queue-for", "1"], "expected NUMBER=QUEUE"),
        (
            ["--acd", "127.0.0.1:1", "--default-queue", "q", "--acd-enqueue-timeout", "0"],
            "--acd-enqueue-timeout must be positive",
        ),
        (
            ["--acd", "127.0.0.1:1", "--default-queue", "q", "--acd-workers", "0"],
            "--acd-workers must be at least 1",
        ),
    ],
)
def test_cli_refusals(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args([*BASE, *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_options() -> None:
    config = parse_args(
        [
            *BASE,
            "--acd",
            "10.0.0.1:50051,10.0.0.2:50051",
            "--queue-for",
            "95598=billing",
            "--queue-for",
            "95599=sales",
            "--acd-timeout",
            "0.5",
        ]
    )
    assert config.acd is not None
    assert config.acd.addresses == ("10.0.0.1:50051", "10.0.0.2:50051")
    assert config.acd.queue_for == {"95598": "billing", "95599": "sales"}
    assert (config.acd.default_queue, config.acd.rpc_timeout_s) == (None, 0.5)
    assert parse_args(BASE).acd is None
    # No queue at all: the replica takes internal calls only (the edge's category
    # `internal`); any other call is refused with cause `no queue`.
    only_internal = parse_args([*BASE, "--acd", "10.0.0.1:50051"]).acd
    assert only_internal is not None and not only_internal.queue_for


# ---------------------------------------------------------------- ACD side


def test_offers_and_cancels_carry_the_agents_sip_user_and_old_commits_still_load() -> None:
    old = {
        "kind": "offer",
        "call_id": "c",
        "agent": 7,
        "seat": 1,
        "caller": "",
        "category": "",
        "queue": "q",
        "ring_timeout": 5.0,
    }  # committed before `username` existed
    assert action_from_dict(old) == Offer("c", 7, 1, "", "", "q", 5.0, "")
    proto = action_to_proto(Offer("c", 7, 1, "", "", "q", 5.0, "a7"), "1-0")
    assert proto.offer.username == "a7"
    proto = action_to_proto(CancelRing("c", 7, 1, "LOGOUT", "a7"), "1-0")
    assert proto.cancel_ring.username == "a7"


def test_call_events_must_be_controller_or_acd() -> None:
    with pytest.raises(ValueError, match="call_events must be"):
        to_log_events(
            [], [], agent=lambda e: None, call=lambda c: None, node="n", call_events="both"
        )


# ---------------------------------------------------------------- config and stack


def _config(tmp_path: Path, numbers: list[dict[str, Any]], *, acd: bool = True) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "queues": [{"name": "billing"}],
        "numbers": numbers,
    }
    if acd:
        data["acd"] = {"listen": "127.0.0.1:50051", "advertise": "10.1.1.1:50051"}
    path = tmp_path / "callcenter.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_config_number_queue_is_checked_and_reaches_the_replicas(tmp_path: Path) -> None:
    ok = load_config(
        _config(
            tmp_path,
            [
                {
                    "number": "95598",
                    "category": "billing",
                    "target": "controller",
                    "queue": "billing",
                }
            ],
        )
    )
    assert ok.acd is not None and ok.acd.call_events == "controller"
    argv = controller_argv(ok, 0)
    assert argv[argv.index("--acd") + 1] == "10.1.1.1:50051"  # advertise, else listen
    assert argv[argv.index("--queue-for") + 1] == "95598=billing"

    for numbers, acd, message in (
        (
            [{"number": "95598", "category": "b", "target": "controller", "queue": "nosuch"}],
            True,
            "numbers.0.queue: number 95598: queue 'nosuch' is not in `queues:`",
        ),
        (
            [{"number": "95598", "category": "b", "target": "controller"}],
            True,
            "numbers.0.target: number 95598 has target controller and the ACD drives",
        ),
        (
            [{"number": "95598", "category": "b", "target": "controller", "queue": "billing"}],
            False,
            "a queue needs an `acd:` section",
        ),
        (
            [{"number": "95598", "category": "b", "agents": ["1001"], "queue": "billing"}],
            True,
            "a queue needs target controller",
        ),
    ):
        with pytest.raises(ConfigError, match=message.replace("`", ".")):
            load_config(_config(tmp_path, numbers, acd=acd))


def test_without_an_acd_the_replicas_get_no_acd_arguments(tmp_path: Path) -> None:
    config = load_config(
        _config(
            tmp_path,
            [{"number": "95598", "category": "billing", "target": "controller"}],
            acd=False,
        )
    )
    assert "--acd" not in controller_argv(config, 0)


def test_a_route_to_voicemail_goes_to_the_voicemail_host_when_it_takes_the_call() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    taken: list[str] = []

    def to_voicemail(call: DrivenCall) -> bool:
        taken.append(call.cid)
        return True

    w.driver.to_voicemail = to_voicemail
    w.arrive()
    w.feed(action("8-0", route=pb.Route(call_id=CID, target="voicemail", reason="MAX_WAIT")))
    assert taken == [CID]
    assert CID not in w.driver.calls
    assert not [e for e in w.published if e.kind == CALL_ENDED]  # the caller stays
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert [m for m, _ in w.rpcs()] == ["Enqueue"]  # the ACD is done with it: no Abandon


def test_a_route_to_voicemail_without_a_box_hangs_up_as_before() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    w.driver.to_voicemail = lambda call: False
    w.arrive()
    w.feed(action("8-0", route=pb.Route(call_id=CID, target="voicemail", reason="MAX_WAIT")))
    (ended,) = [e for e in w.published if e.kind == CALL_ENDED]
    assert dict(ended.data) == {"cause": "overflow:voicemail", "side": "system"}


def test_leave_queue_abandons_a_waiting_call_and_lets_it_go() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    w.arrive()
    queue = w.driver.waiting_queue(CID)
    assert queue is not None
    left = w.driver.leave_queue(CID)
    assert left is not None and left.queue == queue
    w.run()
    assert [m for m, _ in w.rpcs()] == ["Enqueue", "Abandon"]
    assert CID not in w.driver.calls
    assert w.driver.waiting_queue(CID) is None and w.driver.leave_queue(CID) is None
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert [m for m, _ in w.rpcs()] == ["Enqueue", "Abandon"]  # nothing more


def test_a_ringing_call_does_not_leave_its_queue() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    w.arrive()
    w.feed(action("7-0", offer=pb.Offer(call_id=CID, employee_id=1001, username="1001")))
    assert w.driver.waiting_queue(CID) is None
    assert w.driver.leave_queue(CID) is None
