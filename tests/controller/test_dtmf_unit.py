"""DTMF's pure parts: INFO bodies, the convergence of the three sources, de-duplication,
the SIP adapter's INFO handling and message log (fakes, no process)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from controller._dtmf import DtmfDigits, InfoVerdict, info_verdict
from controller._sip import (
    _UA,
    _InfoConnected,
    _InfoUacUpdating,
    _InfoUasUpdating,
    _recv_info,
    _SipMessageLog,
)

BAD_RELAY = "Bad DTMF Relay Body"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", InfoVerdict(200, "OK", "5")),
        ("application/dtmf-relay", "signal= #\r\nduration=250", InfoVerdict(200, "OK", "#")),
        ("Application/DTMF-Relay; charset=x", "Signal=*\r\n", InfoVerdict(200, "OK", "*")),
        ("application/dtmf-relay", "Signal=10\r\nDuration=160", InfoVerdict(200, "OK", "*")),
        ("application/dtmf-relay", "Signal=11\r\nDuration=160", InfoVerdict(200, "OK", "#")),
        ("application/dtmf-relay", "Signal=d\r\nDuration=160", InfoVerdict(200, "OK", "D")),
        ("application/dtmf", "7", InfoVerdict(200, "OK", "7")),
        ("application/dtmf", " 0\r\n", InfoVerdict(200, "OK", "0")),
        (None, None, InfoVerdict(200, "OK")),
        ("application/dtmf-relay", "  \r\n", InfoVerdict(200, "OK")),
        ("application/dtmf-relay", "Signal=\r\nDuration=160", InfoVerdict(400, BAD_RELAY)),
        ("application/dtmf-relay", "Duration=160", InfoVerdict(400, BAD_RELAY)),
        ("application/dtmf-relay", "Signal=16", InfoVerdict(400, BAD_RELAY)),
        ("application/dtmf", "55", InfoVerdict(400, "Bad DTMF Body")),
        ("application/media_control+xml", "<x/>", InfoVerdict(415, "Unsupported Media Type")),
        ("application/sdp", "v=0", InfoVerdict(415, "Unsupported Media Type")),
    ],
)
def test_info_verdict(content_type: str | None, body: str | None, expected: InfoVerdict) -> None:
    assert info_verdict(content_type, body) == expected


def test_an_info_verdicts_repr_keeps_the_digit_out() -> None:
    assert "5" not in repr(InfoVerdict(200, "OK", "5")).replace("200", "")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def got() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def digits(clock: Clock, got: list[tuple[str, str, str]]) -> DtmfDigits:
    calls = {"c1": "L1", "c2": "L1"}
    dtmf = DtmfDigits(calls.get, clock=clock, record=True)
    dtmf.subscribe(lambda cid, digit, method: got.append((cid, digit, method)))
    return dtmf


def test_each_source_reaches_the_subscriber_in_order(
    digits: DtmfDigits, got: list[tuple[str, str, str]]
) -> None:
    digits.from_rtpengine("c1", "L1", "1")
    digits.from_info("c1", "L1", "2")
    digits.from_rtpengine("c2", "L1", "3")
    digits.detect_inband("c2")
    digits.from_rtpengine("c2", "L1", "4")
    assert got == [
        ("c1", "1", "rfc4733"),
        ("c1", "2", "info"),
        ("c2", "3", "rfc4733"),
        ("c2", "4", "inband"),
    ]
    assert digits.stats()["received"] == {"rfc4733": 2, "inband": 1, "info": 1}
    assert digits.digits_of("c1") == [
        {"digit": "1", "method": "rfc4733"},
        {"digit": "2", "method": "info"},
    ]


def test_digits_of_other_calls_and_other_legs_are_counted_not_delivered(
    digits: DtmfDigits, got: list[tuple[str, str, str]]
) -> None:
    digits.from_rtpengine("sibling-call", "L1", "1")
    digits.from_info("gone", "L1", "2")
    digits.from_rtpengine("c1", "L2", "3")  # an agent's phone
    digits.from_info("c1", "park", "4")
    assert got == []
    stats = digits.stats()
    assert stats["dropped_unknown_call"] == 2 and stats["dropped_not_caller"] == 2
    assert stats["received"] == {"rfc4733": 0, "inband": 0, "info": 0}
    assert stats["delivered"] == 0


def test_one_press_by_two_methods_is_one_digit(
    digits: DtmfDigits, clock: Clock, got: list[tuple[str, str, str]]
) -> None:
    digits.from_info("c1", "L1", "5")  # INFO leaves at the press ...
    clock.now += 0.25
    digits.from_rtpengine("c1", "L1", "5")  # ... the RFC 4733 event at its end
    assert got == [("c1", "5", "info")]
    assert digits.stats()["duplicates"] == 1


def test_the_same_key_twice_stays_twice_whatever_carries_it(
    digits: DtmfDigits, clock: Clock, got: list[tuple[str, str, str]]
) -> None:
    digits.from_rtpengine("c1", "L1", "5")
    digits.from_rtpengine("c1", "L1", "5")  # one method: never merged
    assert [g[1] for g in got] == ["5", "5"]
    # Two presses, each sent both ways, interleaved: two digits, two duplicates.
    for source in ("info", "rtp", "info", "rtp"):
        clock.now += 0.1
        if source == "info":
            digits.from_info("c2", "L1", "7")
        else:
            digits.from_rtpengine("c2", "L1", "7")
    assert [g[1] for g in got if g[0] == "c2"] == ["7", "7"]
    assert digits.stats()["duplicates"] == 2


def test_a_late_repeat_outside_the_window_is_a_new_press(
    digits: DtmfDigits, clock: Clock, got: list[tuple[str, str, str]]
) -> None:
    digits.from_info("c1", "L1", "9")
    clock.now += 2.5
    digits.from_rtpengine("c1", "L1", "9")
    digits.from_rtpengine("c1", "L1", "8")  # another digit is never a duplicate
    assert [g[1] for g in got] == ["9", "9", "8"]


def test_without_record_a_call_keeps_only_what_pairing_needs(clock: Clock) -> None:
    dtmf = DtmfDigits({"c1": "L1"}.get, clock=clock)
    for _ in range(10):
        dtmf.from_info("c1", "L1", "1")
        clock.now += 1.0
    assert len(dtmf._calls["c1"].presses) <= 3
    with pytest.raises(ValueError, match="--dtmf-record"):
        dtmf.digits_of("c1")
    dtmf.call_ended("c1")
    assert dtmf._calls == {}


def test_a_failing_subscriber_costs_the_others_nothing_and_logs_no_digit(
    digits: DtmfDigits, got: list[tuple[str, str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(cid: str, digit: str, method: str) -> None:
        raise ValueError(f"cannot take digit {digit}")

    digits._subscribers.insert(0, broken)
    caplog.set_level(logging.DEBUG, logger="controller.dtmf")
    digits.from_info("c1", "L1", "#")
    digits.from_rtpengine("c1", "L1", "#")
    digits.from_rtpengine("other", "L1", "#")
    assert got == [("c1", "#", "info")]
    assert digits.stats()["subscriber_errors"] == 1
    assert caplog.records, "it logs that digits arrived"
    for record in caplog.records:
        assert "#" not in record.getMessage()
        assert record.exc_info is None


# ---------------------------------------------------------------- the SIP adapter
class FakeTm:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def sendResponse(self, resp: Any, lossemul: int = 0) -> None:
        self.sent.append(resp)


class FakeBody:
    def __init__(self, ctype: str, text: str) -> None:
        self.ctype, self.text = ctype, text

    def getType(self) -> str:
        return self.ctype

    def __str__(self) -> str:
        return self.text


class FakeResponse:
    def __init__(self, code: int, reason: str) -> None:
        self.code, self.reason, self.headers = code, reason, []

    def appendHeader(self, header: Any) -> None:
        self.headers.append(str(header))


class FakeRequest:
    rtime = None

    def __init__(self, body: FakeBody | None) -> None:
        self.body = body

    def getBody(self) -> FakeBody | None:
        return self.body

    def genResponse(self, code: int, reason: str, server: Any = None) -> FakeResponse:
        return FakeResponse(code, reason)


class FakeUa:
    local_ua = None
    uas_lossemul = 0
    origin = None

    def __init__(self) -> None:
        self.global_config = {"_sip_tm": FakeTm()}
        self.equeue: list[Any] = []
        self.info_policy = _UA.info_policy


class FakeState:
    def __init__(self) -> None:
        self.ua = FakeUa()


@pytest.mark.parametrize(
    ("body", "code", "digit"),
    [
        (FakeBody("application/dtmf-relay", "Signal=3\r\nDuration=160"), 200, "3"),
        (None, 200, None),
        (FakeBody("application/media_control+xml", "<x/>"), 415, None),
        (FakeBody("application/dtmf", "x"), 400, None),
    ],
)
def test_an_info_is_answered_by_its_body_and_its_digit_queued(
    body: FakeBody | None, code: int, digit: str | None
) -> None:
    state = FakeState()
    assert _recv_info(state, FakeRequest(body)) is None
    (resp,) = state.ua.global_config["_sip_tm"].sent
    assert resp.code == code
    if code == 415:
        assert resp.headers == ["Accept: application/dtmf-relay, application/dtmf"]
    assert [e.getData() for e in state.ua.equeue] == ([digit] if digit else [])


def test_info_is_handled_in_every_state_of_an_established_dialog() -> None:
    # Stock Sippy answers INFO only while Connected: during a re-INVITE it never answers.
    assert _UA.UaStateConnected is _InfoConnected
    assert _UA.UasStateUpdating is _InfoUasUpdating
    assert _UA.UacStateUpdating is _InfoUacUpdating
    for state in (_InfoConnected, _InfoUasUpdating, _InfoUacUpdating):
        assert state.recv_request_handlers["INFO"] is _recv_info
        assert "BYE" in state.recv_request_handlers  # Sippy's own handlers stay


def test_the_sip_message_log_withholds_dtmf_bodies(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.sip")
    sip_log = _SipMessageLog({"abc": "cid1"}.get)
    info = (
        "INFO sip:ctl@127.0.0.1:5070 SIP/2.0\r\nCall-ID: abc\r\n"
        "Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\n"
        "Signal=5\r\nDuration=160\r\n"
    )
    sip_log.write("RECEIVED message from 127.0.0.1:5080:\n", info)
    notify = (
        "NOTIFY sip:x SIP/2.0\r\nCall-ID: abc\r\nc: application/dtmf\r\nContent-Length: 1\r\n\r\n7"
    )
    sip_log.write("RECEIVED message from 127.0.0.1:5080:\n", notify)
    invite = "INVITE sip:x SIP/2.0\r\nCall-ID: abc\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n"
    sip_log.write("SENDING message to 127.0.0.1:5080:\n", invite)
    info_line, notify_line, invite_line = (r.getMessage() for r in caplog.records)
    assert "Signal=" not in info_line and "withheld" in info_line
    assert info_line.startswith("cid=cid1 RECEIVED") and "Content-Length: 24" in info_line
    assert not notify_line.rstrip().endswith("7") and "withheld" in notify_line
    assert "m=audio 4000" in invite_line  # other bodies stay, for debugging
