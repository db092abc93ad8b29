"""DTMF end to end: rtpengine + controller processes + sipp callers keying in digits.

A digit reaches the call that owns it in each of its three forms: RFC 4733 events and
in-band tones, both detected by rtpengine and pushed over TCP ng, and SIP INFO in the
caller's dialog. The controllers run with `--dtmf-record`, so the `dtmf` command shows
each live call's digits; no log (the controller's, rtpengine's) shows a digit's value.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from controller._sdp import media_endpoint, park_answer
from simulators import RtpEndpoint, SippRun, start_sipp
from testbed import (
    Controller,
    Rtpengine,
    assert_clean,
    media_of,
    running_controller,
    running_rtpengine,
    track,
    wait_until,
)

pytestmark = pytest.mark.integration

CID_HEADER = "X-CC-Correlation-ID"
# Seconds between two RTP packets sent: a quarter of real time. rtpengine goes by the
# RTP timestamps, for RFC 4733 events and for its tone detector alike.
PACING_S = 0.005

# Lines that would give a digit away: a SIP INFO body in a message dump, rtpengine's
# per-packet DTMF debug lines, its JSON/bencode event, a digit written after "digit".
_LEAKS = (
    re.compile(r"Signal="),
    re.compile(r"DTMF event packet"),
    re.compile(r"DTMF DSP"),
    re.compile(r'"event"\s*:'),
    re.compile(r"onDTMF"),
    re.compile(r"digit\W{1,3}[0-9*#A-D](?:\W|$)"),
)


def assert_no_digits_in(text: str, what: str) -> None:
    for line in text.splitlines():
        for leak in _LEAKS:
            assert not leak.search(line), f"{what} gives a digit away: {line}"


@contextmanager
def dtmf_controller(workdir: Path, engine: Rtpengine | str, *extra: str) -> Iterator[Controller]:
    """A controller that records digits, connected to its rtpengine's events; on exit the
    `controller` fixture's checks, and no digit in its log."""
    workdir.mkdir(parents=True, exist_ok=True)
    with running_controller(workdir, engine, (), "--dtmf-record", *extra) as running:
        wait_until(
            lambda: running.cmd("dtmf")["rtpengine"]["connected"],
            timeout=5,
            what="the controller connected to rtpengine's DTMF events",
        )
        yield running
        if not isinstance(engine, str):
            assert_clean(running, engine)
        running.close()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        log = running.log_text()
        assert "Traceback" not in log, log[-3000:]
        assert_no_digits_in(log, "the controller's log")


@pytest.fixture
def controller(workdir: Path, engine: Rtpengine) -> Iterator[Controller]:
    with dtmf_controller(workdir, engine) as running:
        yield running
    assert_no_digits_in(engine.log.read_text(errors="replace"), "rtpengine's log")


def _caller(
    controller: Controller,
    workdir: Path,
    scenario: str,
    rtp: RtpEndpoint,
    cid: str,
    **keys: str,
) -> SippRun:
    workdir.mkdir(parents=True, exist_ok=True)
    run = start_sipp(
        "caller",
        scenario,
        controller.sip,
        workdir=workdir,
        keys={"rtp_port": rtp.port, "cidhdr": CID_HEADER, "cid": cid, **keys},
        service="95598",
        pause_ms=200,
        timeout_s=30,
    )
    track(run)
    return run


def _answered(controller: Controller, caller: SippRun, cid: str) -> tuple[str, int]:
    """Answer the call; where the caller sends its media (rtpengine's caller-facing port)."""
    wait_until(lambda: controller.call(cid) is not None, timeout=5, what=f"call {cid} arrives")
    controller.cmd("answer", cid=cid)
    return media_of(caller.wait_for_log("ANSWERED")[0])


def _digits(controller: Controller, cid: str, count: int) -> list[dict[str, str]]:
    """The call's digits, once `count` arrived (and a moment for any extra one)."""
    wait_until(
        lambda: len(controller.cmd("dtmf", cid=cid)["digits"]) >= count,
        timeout=10,
        what=f"{count} digits reach call {cid} (now {controller.cmd('dtmf', cid=cid)})",
    )
    digits: list[dict[str, str]] = controller.cmd("dtmf", cid=cid)["digits"]
    return digits


def _hang_up(controller: Controller, caller: SippRun, cid: str) -> None:
    controller.cmd("hangup", cid=cid)
    caller.wait_for_log("BYE")
    assert caller.wait(timeout=10) == 0, caller.errors()


def _keyed(digits: list[dict[str, str]]) -> str:
    return "".join(d["digit"] for d in digits)


def test_rfc4733_events_reach_the_call_once_each_in_order(
    controller: Controller, workdir: Path
) -> None:
    rtp = RtpEndpoint()
    cid = secrets.token_hex(16)
    keyed = "0123456789*#ABCD55"
    try:
        caller = _caller(controller, workdir, "ctl_caller", rtp, cid)
        media = _answered(controller, caller, cid)
        before = controller.cmd("dtmf")
        # Each event: 4 updates and the end packet 3 times (simulators/_dtmf.py).
        rtp.send_dtmf(media, keyed, interval_s=PACING_S)
        digits = _digits(controller, cid, len(keyed))
        # rtpengine reports each event once, not once per end packet; "55" stays two.
        assert _keyed(digits) == keyed
        assert {d["method"] for d in digits} == {"rfc4733"}
        after = controller.cmd("dtmf")
        assert after["received"]["rfc4733"] - before["received"]["rfc4733"] == len(keyed)
        assert after["delivered"] - before["delivered"] == len(keyed)
        assert after["duplicates"] == before["duplicates"]
        assert after["inband_detection"] is True
        _hang_up(controller, caller, cid)
        assert "listens for DTMF tones" not in controller.log_text()  # it offered 101
    finally:
        rtp.close()


def test_inband_tones_from_a_caller_without_telephone_event(
    controller: Controller, workdir: Path, engine: Rtpengine
) -> None:
    rtp = RtpEndpoint()
    cid = secrets.token_hex(16)
    keyed = "1234567890*#ABCD"
    try:
        caller = _caller(controller, workdir, "ctl_caller_tones", rtp, cid)
        media = _answered(controller, caller, cid)
        assert f"cid={cid} no telephone-event offered" in controller.log_text()
        # 100 ms of tone and 100 ms of silence each, in RTP time
        rtp.send_dtmf(media, keyed, inband=True, interval_s=PACING_S)
        digits = _digits(controller, cid, len(keyed))
        assert _keyed(digits) == keyed
        assert {d["method"] for d in digits} == {"inband"}
        _hang_up(controller, caller, cid)
        # rtpengine was told to listen (unblock DTMF with detect-DTMF), and said so.
        assert "Unblocking directional DTMF (tag 'L1')" in engine.log.read_text(errors="replace")
    finally:
        rtp.close()


def test_sip_info_digits_and_what_other_info_bodies_get(
    controller: Controller, workdir: Path
) -> None:
    rtp = RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        # Signal=11 is how some gateways write '#' (its RFC 4733 event number).
        caller = _caller(
            controller, workdir, "ctl_caller_info", rtp, cid, d1="7", d2="11", d3="*", d4="0"
        )
        _answered(controller, caller, cid)
        digits = _digits(controller, cid, 4)
        assert _keyed(digits) == "7#*0"
        assert {d["method"] for d in digits} == {"info"}
        caller.wait_for_log("INFO empty 200")
        accept = caller.wait_for_log("INFO 415")[0].partition("accept=")[2]
        assert accept.strip() == "application/dtmf-relay, application/dtmf"
        caller.wait_for_log("INFO 400")
        stats = controller.cmd("dtmf")
        assert stats["info"] == {"digit": 4, "empty": 1, "bad_dtmf": 1, "unsupported": 1}
        assert stats["received"]["info"] == 4
        _hang_up(controller, caller, cid)
        log = controller.log_text()
        assert "withheld: it may carry a DTMF digit" in log  # the INFO dumps, at DEBUG
    finally:
        rtp.close()


def test_one_press_sent_by_rfc4733_and_by_info_counts_once(
    controller: Controller, workdir: Path
) -> None:
    rtp = RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        caller = _caller(
            controller, workdir, "ctl_caller_info", rtp, cid, d1="4", d2="4", d3="2", d4="9"
        )
        media = _answered(controller, caller, cid)
        before = controller.cmd("dtmf")
        rtp.send_dtmf(
            media, "4429", interval_s=PACING_S
        )  # the same presses, as RFC 4733 events too
        caller.wait_for_log("INFO4 200")
        wait_until(
            lambda: (
                controller.cmd("dtmf")["received"]["rfc4733"] - before["received"]["rfc4733"] == 4
            ),
            timeout=5,
            what="the 4 RFC 4733 events reach the controller",
        )
        digits = controller.cmd("dtmf", cid=cid)["digits"]
        assert _keyed(digits) == "4429"
        after = controller.cmd("dtmf")
        assert after["duplicates"] - before["duplicates"] == 4
        assert after["delivered"] - before["delivered"] == 4
        _hang_up(controller, caller, cid)
    finally:
        rtp.close()


def _stray_session(engine: Rtpengine, call_id: str, rtp: RtpEndpoint) -> tuple[str, int]:
    """An rtpengine session no controller made, as the controller would make one."""
    client = engine.client()
    try:
        sdp = (
            "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp.port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        )
        client.offer(call_id, "L1", "park", sdp)
        answer = client.answer(call_id, "L1", "park", park_answer(sdp, "127.0.0.1", 9))
    finally:
        client.close()
    endpoint = media_endpoint(answer)
    assert endpoint is not None
    return endpoint


def test_digits_of_a_call_the_controller_does_not_have_are_counted_and_dropped(
    controller: Controller, engine: Rtpengine
) -> None:
    rtp = RtpEndpoint()
    stray = f"stray-{secrets.token_hex(8)}"
    client = engine.client()
    try:
        before = controller.cmd("dtmf")
        rtp.send_dtmf(_stray_session(engine, stray, rtp), "123", interval_s=PACING_S)
        wait_until(
            lambda: (
                controller.cmd("dtmf")["dropped_unknown_call"] == before["dropped_unknown_call"] + 3
            ),
            timeout=5,
            what="3 digits of an unknown call counted",
        )
        after = controller.cmd("dtmf")
        assert after["delivered"] == before["delivered"]
        assert after["received"] == before["received"]
        assert controller.try_cmd("dtmf", cid=stray) == {
            "ok": False,
            "error": f"no such call {stray}",
        }
    finally:
        client.request("delete", **{"call-id": stray})
        client.close()
        rtp.close()


def test_two_replicas_on_one_rtpengine_each_get_only_their_own_calls_digits(
    workdir: Path, engine: Rtpengine
) -> None:
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(dtmf_controller(workdir / name, engine)) for name in ("a", "b")
        ]
        rtps = [RtpEndpoint(), RtpEndpoint()]
        for rtp in rtps:
            stack.callback(rtp.close)
        cids = [secrets.token_hex(16), secrets.token_hex(16)]
        keyed = ["1357", "2468*"]
        callers = [
            _caller(replica, workdir / f"caller-{i}", "ctl_caller", rtps[i], cids[i])
            for i, replica in enumerate(replicas)
        ]
        medias = [_answered(r, c, cid) for r, c, cid in zip(replicas, callers, cids, strict=True)]
        before = [r.cmd("dtmf") for r in replicas]
        senders = [
            threading.Thread(
                target=rtps[i].send_dtmf,
                args=(medias[i], keyed[i]),
                kwargs={"interval_s": PACING_S},
            )
            for i in (0, 1)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        for i, replica in enumerate(replicas):
            assert _keyed(_digits(replica, cids[i], len(keyed[i]))) == keyed[i]
        other: list[dict[str, Any]] = []
        for i, replica in enumerate(replicas):
            # Every replica hears every digit of the rtpengine it shares; it drops the
            # other's as "not my call".
            expected = before[i]["dropped_unknown_call"] + len(keyed[1 - i])
            wait_until(
                lambda r=replica, n=expected: r.cmd("dtmf")["dropped_unknown_call"] == n,
                timeout=5,
                what=f"replica {i} counts the other's digits as unknown",
            )
            other.append(replica.cmd("dtmf"))
            assert other[i]["delivered"] - before[i]["delivered"] == len(keyed[i])
        for i, replica in enumerate(replicas):
            _hang_up(replica, callers[i], cids[i])


def test_a_restarted_rtpengine_is_reconnected_and_its_digits_arrive(workdir: Path) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(running_rtpengine(workdir / "rtpengine"))
        ng = f"127.0.0.1:{first.ng_port}"
        # The controller knows rtpengine by address only: it outlives this process.
        controller = stack.enter_context(dtmf_controller(workdir / "controller", ng))
        assert controller.cmd("dtmf")["rtpengine"]["connects"] == 1
        first.process.kill()
        first.process.wait()
        wait_until(
            lambda: not controller.cmd("dtmf")["rtpengine"]["connected"],
            timeout=5,
            what="the controller sees rtpengine's events connection go",
        )
        assert controller.cmd("ping") == "pong"
        second = stack.enter_context(
            running_rtpengine(
                workdir / "rtpengine", ng_port=first.ng_port, port_base=first.port_base
            )
        )
        wait_until(
            lambda: controller.cmd("dtmf")["rtpengine"]["connected"],
            timeout=5,
            what="the controller reconnects to the restarted rtpengine",
        )
        stats = controller.cmd("dtmf")["rtpengine"]
        # Each loss is followed by a reconnect. (A loaded machine may show one more
        # round: a connection the restarting rtpengine accepted and dropped.)
        assert stats["connects"] >= 2 and stats["lost"] == stats["connects"] - 1
        rtp = RtpEndpoint()
        stack.callback(rtp.close)
        cid = secrets.token_hex(16)
        caller = _caller(controller, workdir / "caller", "ctl_caller", rtp, cid)
        media = _answered(controller, caller, cid)
        rtp.send_dtmf(media, "86", interval_s=PACING_S)
        assert _keyed(_digits(controller, cid, 2)) == "86"
        _hang_up(controller, caller, cid)
        assert_clean(controller, second)
        log = controller.log_text()
        assert "rtpengine DTMF events: connection to tcp" in log and "lost" in log
        assert_no_digits_in(second.log.read_text(errors="replace"), "rtpengine's log")
