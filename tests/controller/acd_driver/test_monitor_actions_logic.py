"""The ACD driver's side of monitoring on fakes: MonitorCall and MonitorCommand carried
out (or refused and reported ENDED), ReportMonitor sent with the ACD call, and an
intercept reserving the supervisor at the ACD before it takes the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from acd_api.v1 import acd_pb2 as pb
from callcenter._stack import controller_argv
from configuration import load_config
from controller._app import parse_args
from controller._monitoring import MixerError, MonitorReport, UnknownSessionError
from eventlog import CALL_ANSWERED, CALL_TRANSFERRED
from tests.controller.acd_driver.test_driver_logic import CID, World, action, enqueued_with, offer


class FakeMonitoring:
    """What the driver asks of `controller._monitoring.Monitoring`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.refuse: Exception | None = None
        self.report: Any = None
        self.intercept_route: Any = None
        self.live: list[MonitorReport] = []  # what `reports` says

    def reports(self, cid: str) -> list[MonitorReport]:
        return list(self.live)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((name, args, kwargs))
        if self.refuse is not None:
            raise self.refuse
        return {}

    def start(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._call("start", *args, **kwargs)

    def switch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._call("switch", *args, **kwargs)

    def stop(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._call("stop", *args, **kwargs)

    def supervisor_of(self, cid: str, session_id: str) -> str:
        return "2001"

    def take_over(self, cid: str, session_id: str) -> dict[str, Any]:
        """As the service does: the events of an intercept whose supervisor answered."""
        self.calls.append(("take_over", (cid, session_id), {}))
        self.world.emit(
            CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="2001", mode="intercept"
        )
        self.world.emit(CALL_ANSWERED, agent="2001", seat="", leg_id="M1")
        return {}


def talking() -> tuple[World, FakeMonitoring]:
    w = World()
    monitoring = FakeMonitoring(w)
    w.driver.attach_monitoring(monitoring)  # type: ignore[arg-type]
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.emit(CALL_ANSWERED, agent="1001", seat="1", leg_id="L2")
    w.run()
    return w, monitoring


def monitor_call(commit: str, *, record: bool = False) -> pb.Action:
    return action(
        commit,
        monitor_call=pb.MonitorCall(
            session_id="s1",
            call_id=CID,
            username="2001",
            employee_id=2001,
            mode=pb.MONITOR_MODE_WHISPER,
            ring_timeout_seconds=12.0,
            record=record,
            requested_by="boss",
            agent="1001",
        ),
    )


def command(commit: str, mode: int) -> pb.Action:
    return action(
        commit,
        monitor_command=pb.MonitorCommand(session_id="s1", call_id=CID, mode=mode),  # type: ignore[arg-type]
    )


def test_monitor_call_rings_the_supervisor_once() -> None:
    w, monitoring = talking()
    w.feed(monitor_call("7-0", record=True))
    w.feed(monitor_call("7-0", record=True))  # the same action again (reply and feed)
    assert monitoring.calls == [
        (
            "start",
            (CID, "2001", "whisper"),
            {
                "session_id": "s1",
                "record": True,
                "ring_timeout_s": 12.0,
                "requested_by": "boss",
            },
        )
    ]
    assert w.rpcs("ReportMonitor") == []


def test_a_monitor_call_that_cannot_start_is_reported_ended() -> None:
    w, monitoring = talking()
    monitoring.refuse = ValueError("call is ringing; this needs bridged")
    w.feed(monitor_call("7-0"))
    monitoring.refuse = MixerError("every mixer is marked down")
    w.feed(monitor_call("8-0"))
    reports = w.rpcs("ReportMonitor")
    assert [(r.session_id, r.state, r.reason, r.call_id) for r in reports] == [
        ("s1", pb.MONITOR_STATE_ENDED, "no_answer", CID),
        ("s1", pb.MONITOR_STATE_ENDED, "mixer_failed", CID),
    ]


def test_sessions_report_with_the_acd_call_and_the_mode() -> None:
    w, _ = talking()
    w.driver.report_monitor(MonitorReport(CID, "op1", "active", "listen", "1001", ""))
    w.run()
    assert w.rpcs("ReportMonitor") == [], "an operator's session is not the ACD's"
    w.feed(monitor_call("7-0"))
    w.driver.report_monitor(MonitorReport(CID, "s1", "active", "barge", "1001", ""))
    w.driver.report_monitor(MonitorReport(CID, "s1", "ended", "barge", "1001", "requested"))
    w.run()
    reports = w.rpcs("ReportMonitor")
    assert [(r.state, r.mode, r.agent, r.reason) for r in reports] == [
        (pb.MONITOR_STATE_ACTIVE, pb.MONITOR_MODE_BARGE, "1001", ""),
        (pb.MONITOR_STATE_ENDED, pb.MONITOR_MODE_BARGE, "1001", "requested"),
    ]
    w.driver.report_monitor(MonitorReport(CID, "s1", "ended", "barge", "1001", "requested"))
    w.run()
    assert len(w.rpcs("ReportMonitor")) == 2, "ended already: nothing more to report"


def test_a_session_the_acd_no_longer_has_is_hung_up_here() -> None:
    w, monitoring = talking()
    w.replies["ReportMonitor"] = lambda r: pb.ReportMonitorResponse(
        error=pb.Error(code=pb.ERROR_CODE_UNKNOWN_MONITOR_SESSION, message="no such session")
    )
    w.feed(monitor_call("7-0"))
    w.driver.report_monitor(MonitorReport(CID, "s1", "active", "whisper", "1001", ""))
    w.run()
    assert monitoring.calls[-1][:2] == ("stop", (CID, "s1"))


def test_monitor_commands_switch_and_stop() -> None:
    w, monitoring = talking()
    w.feed(command("7-0", pb.MONITOR_MODE_BARGE))
    w.feed(command("8-0", pb.MONITOR_MODE_UNSPECIFIED))
    assert [(name, args) for name, args, _ in monitoring.calls] == [
        ("switch", (CID, "s1", "barge")),
        ("stop", (CID, "s1")),
    ]
    monitoring.refuse = UnknownSessionError("no monitoring session s1")
    w.feed(command("9-0", pb.MONITOR_MODE_UNSPECIFIED))  # logged, nothing more


def test_intercept_reserves_the_supervisor_then_the_reservation_carries_the_call() -> None:
    w, monitoring = talking()
    rid = f"{CID}.monitor_intercept1"
    w.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
        actions=[
            action(
                "9-0",
                offer=pb.Offer(call_id=rid, employee_id=2001, username="2001", queue="billing"),
            )
        ]
    )

    def check(request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "result": {"cid": CID, "leg_id": "M1"}}

    execute = w.execute

    def run(request: Any) -> dict[str, Any]:
        if request["cmd"] == "check_monitor_intercept":
            w.commands.append(dict(request))
            return check(request)
        if request["cmd"] == "monitor_intercept":
            w.commands.append(dict(request))
            monitoring.take_over(request["cid"], request["session"])
            return {"ok": True, "result": {}}
        return execute(request)

    w.driver.bind(run)
    # Another supervisor's session goes on with the new agent (a session of the
    # reservation's call from now on): reported there before the old call ends.
    monitoring.live = [MonitorReport(CID, "s2", "active", "listen", "2001")]
    w.driver._acd_sessions.add("s2")
    w.feed(command("7-0", pb.MONITOR_MODE_INTERCEPT))
    (reserve,) = w.rpcs("ReserveForInternalCall")
    assert (reserve.call_id, reserve.username, reserve.kind) == (
        rid,
        "2001",
        pb.CALL_KIND_INTERCEPT,
    )
    assert w.cmds("monitor_intercept")[0]["acd_call_id"] == rid
    assert [(r.call_id, r.employee_id) for r in w.rpcs("Answered")][-1] == (rid, 2001)
    (hangup,) = w.rpcs("Hangup")
    assert (hangup.call_id, hangup.side) == (CID, pb.HANGUP_SIDE_AGENT)
    assert w.driver.calls[CID].acd_call == rid
    methods = [m for m, _ in w.rpcs()]
    assert methods.index("ReportMonitor") < methods.index("Hangup")
    (moved,) = w.rpcs("ReportMonitor")
    assert (moved.session_id, moved.call_id, moved.agent) == ("s2", rid, "2001")


def test_callcenter_passes_the_monitoring_section_to_the_replicas(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "recording": {"dir": "rec/wav"},
        "monitoring": {
            "mixers": [{"ng": "127.0.0.1:2300"}, {"ng": "127.0.0.1:2301", "name": "east"}],
            "keys": {"intercept": "#"},
            "ring_timeout_ms": 9000,
        },
    }
    path = tmp_path / "callcenter.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    argv = controller_argv(load_config(path), 0, run_dir=tmp_path)
    options = parse_args(argv[3:]).monitoring
    assert [(m.name, m.host, m.port) for m in options.mixers] == [
        ("mixer0", "127.0.0.1", 2300),
        ("east", "127.0.0.1", 2301),
    ]
    assert options.keys.action("#") == "intercept" and options.ring_timeout_s == 9.0
    assert options.recording_dir == tmp_path / "rec/wav"
    del data["monitoring"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert "--mixer" not in controller_argv(load_config(path), 0)
