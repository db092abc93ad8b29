"""DTMF: where the digits a caller sends, in any of three forms, become one callback.

- `rfc4733`: RTP `telephone-event` packets, found by rtpengine and pushed to this
  replica over TCP ng (`controller/_rtpengine_dtmf.py`);
- `inband`: tones inside G.711 audio, found by rtpengine's DSP on calls whose caller
  offered no `telephone-event` (the service turns detection on when it answers);
- `info`: SIP INFO in the caller's dialog (`application/dtmf-relay`, `application/dtmf`),
  from the Sippy adapter.

Everything here runs on the SIP loop. Subscribers (the IVR host) get
`on_digit(cid, digit, method)` once per key press, in the order the presses arrived.

**Never log a digit's value**: callers key in account numbers and PINs. Log lines and
`repr`s here say that a digit arrived, never which.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("controller.dtmf")

METHOD_RFC4733 = "rfc4733"
METHOD_INBAND = "inband"
METHOD_INFO = "info"
METHODS = (METHOD_RFC4733, METHOD_INBAND, METHOD_INFO)
DIGITS = "0123456789*#ABCD"

# on_digit(cid, digit, method), on the SIP loop.
OnDigit = Callable[[str, str, str], None]

# How far apart the same key press may arrive by two methods (a phone that sends both
# RFC 4733 and INFO): INFO leaves at the press, rtpengine reports an event at its end,
# so the gap is the key's hold time plus the network; 2 s covers a long press.
PAIR_WINDOW_S = 2.0
# Presses a call keeps at most (pairing needs only those inside the window).
_MAX_REMEMBERED = 64

# SIP INFO bodies that carry a digit (RFC 6086 "legacy INFO usage"; there is no RFC for
# either, but every PBX and gateway speaks them).
DTMF_RELAY = "application/dtmf-relay"  # "Signal=5\r\nDuration=160\r\n"
DTMF_PLAIN = "application/dtmf"  # "5"
INFO_ACCEPT = f"{DTMF_RELAY}, {DTMF_PLAIN}"
# Cisco and others send the RFC 4733 event number for * # A-D in `Signal=`.
_EVENT_NUMBERS = {str(number): digit for number, digit in enumerate(DIGITS)}


@dataclass(frozen=True)
class InfoVerdict:
    """How to answer one SIP INFO, and the digit it carries (None: none)."""

    code: int
    reason: str
    digit: str | None = None

    def __repr__(self) -> str:  # keeps the digit out of any log that prints it
        return f"InfoVerdict({self.code} {self.reason}, digit={'yes' if self.digit else 'no'})"


def _digit(value: str) -> str | None:
    value = value.strip().upper()
    if len(value) == 1 and value in DIGITS:
        return value
    return _EVENT_NUMBERS.get(value)


def info_verdict(content_type: str | None, body: str | None) -> InfoVerdict:
    """The answer to an in-dialog INFO with this body.

    - no body: 200 (phones and SBCs send empty INFOs as keepalives; RFC 6086 lets it pass);
    - `application/dtmf-relay` with a `Signal=` line, or `application/dtmf` with the
      digit: 200 and the digit (0-9 * # A-D, or 10-15 for * # A-D);
    - either type without a usable digit: 400, so the sender learns its body is wrong;
    - any other type (video fast update, vendor XML, ...): 415 with `Accept` (RFC 3261
      21.4.13). A non-2xx to INFO never ends the dialog (RFC 6086 4.2.2).
    """
    if body is None or not body.strip():
        return InfoVerdict(200, "OK")
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == DTMF_RELAY:
        for line in body.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == "signal":
                digit = _digit(value)
                if digit is not None:
                    return InfoVerdict(200, "OK", digit)
        return InfoVerdict(400, "Bad DTMF Relay Body")
    if kind == DTMF_PLAIN:
        digit = _digit(body)
        if digit is not None:
            return InfoVerdict(200, "OK", digit)
        return InfoVerdict(400, "Bad DTMF Body")
    return InfoVerdict(415, "Unsupported Media Type")


@dataclass
class _Press:
    """A key press already delivered: by `method`, then also reported by `methods`."""

    digit: str
    at: float
    method: str
    methods: set[str]

    def __repr__(self) -> str:
        return f"_Press(method={self.method!r}, methods={sorted(self.methods)})"


@dataclass
class _CallDigits:
    inband: bool = False  # rtpengine's digits for this call come from its tone detector
    presses: deque[_Press] = field(default_factory=lambda: deque(maxlen=_MAX_REMEMBERED))


class DtmfDigits:
    """The one place digits from rtpengine and SIP INFO meet; SIP loop only.

    **Duplicates.** rtpengine reports one event per digit: it drops the repeated end
    packets of RFC 4733 (same timestamp) itself (measured on 10.5: 3 end packets, one
    event). What remains is a phone that sends one press two ways, e.g. RFC 4733 and
    INFO. A digit that arrives by method B is taken for the same press as one that
    arrived by another method A when it has the same value, arrived within
    `PAIR_WINDOW_S`, and that press has not yet been matched by B: the oldest such press
    is matched. Two presses of the same key by one method are never merged, so "55"
    stays two digits whichever mix of methods carries them.

    **Memory.** A call's presses are kept only as long as pairing needs them (the
    window), unless `record` is set (`--dtmf-record`, tests and labs): then the last
    `_MAX_REMEMBERED` presses of each live call are kept for `digits_of`. Either way
    they go with the call.
    """

    def __init__(
        self,
        caller_leg: Callable[[str], str | None],
        *,
        clock: Callable[[], float] = time.monotonic,
        pair_window_s: float = PAIR_WINDOW_S,
        record: bool = False,
    ) -> None:
        """`caller_leg(cid)`: the leg id of the call's caller, None if the call is not ours."""
        self._caller_leg = caller_leg
        self._clock = clock
        self._pair_window_s = pair_window_s
        self.record = record
        self._calls: dict[str, _CallDigits] = {}
        self._subscribers: list[OnDigit] = []
        self.received = dict.fromkeys(METHODS, 0)
        self.delivered = 0
        self.duplicates = 0
        self.dropped_unknown_call = 0
        self.dropped_not_caller = 0
        self.subscriber_errors = 0

    # ------------------------------------------------------------ subscribers
    def subscribe(self, on_digit: OnDigit) -> None:
        """Call `on_digit(cid, digit, method)` on the SIP loop for every key press."""
        self._subscribers.append(on_digit)

    def unsubscribe(self, on_digit: OnDigit) -> None:
        self._subscribers.remove(on_digit)

    # ---------------------------------------------------------------- calls
    def detect_inband(self, cid: str) -> None:
        """rtpengine listens for tones on this call's caller: its digits are `inband`.

        rtpengine's event says nothing of where a digit came from; the service turns
        tone detection on only for a caller that offered no telephone-event, which then
        cannot send RFC 4733.
        """
        self._call(cid).inband = True

    def call_ended(self, cid: str) -> None:
        self._calls.pop(cid, None)

    def digits_of(self, cid: str) -> list[dict[str, str]]:
        """The live call's delivered digits with their method (only with `record`)."""
        if not self.record:
            raise ValueError("digits are not recorded (the controller runs without --dtmf-record)")
        state = self._calls.get(cid)
        if state is None:
            return []
        return [{"digit": p.digit, "method": p.method} for p in state.presses]

    def _call(self, cid: str) -> _CallDigits:
        state = self._calls.get(cid)
        if state is None:
            state = self._calls[cid] = _CallDigits()
        return state

    # --------------------------------------------------------------- sources
    def from_rtpengine(self, cid: str, tag: str, digit: str) -> None:
        """A digit rtpengine detected on `tag`'s media (its monologue is our leg id)."""
        state = self._calls.get(cid)
        method = METHOD_INBAND if state is not None and state.inband else METHOD_RFC4733
        self._take(cid, tag, digit, method)

    def from_info(self, cid: str, leg_id: str, digit: str) -> None:
        """A digit in a SIP INFO the leg's party sent (already answered 200)."""
        self._take(cid, leg_id, digit, METHOD_INFO)

    def _take(self, cid: str, leg_id: str, digit: str, method: str) -> None:
        caller = self._caller_leg(cid)
        if caller is None:
            # With TCP ng every replica hears every digit of the rtpengine it shares:
            # the calls of its siblings land here too (docs/call-control.md, "DTMF").
            self.dropped_unknown_call += 1
            return
        if leg_id != caller:
            self.dropped_not_caller += 1
            log.debug("cid=%s dtmf: a digit from leg %s (not the caller) ignored", cid, leg_id)
            return
        self.received[method] += 1
        now = self._clock()
        presses = self._call(cid).presses
        if not self.record:
            while presses and now - presses[0].at > self._pair_window_s:
                presses.popleft()
        for press in presses:
            if (
                press.digit == digit
                and method not in press.methods
                and now - press.at <= self._pair_window_s
            ):
                press.methods.add(method)
                self.duplicates += 1
                log.debug("cid=%s dtmf: a digit by %s repeats one already delivered", cid, method)
                return
        presses.append(_Press(digit, now, method, {method}))
        self.delivered += 1
        log.debug("cid=%s dtmf: a digit arrived by %s", cid, method)
        for on_digit in list(self._subscribers):
            try:
                on_digit(cid, digit, method)
            except Exception as exc:  # one broken subscriber must not cost the others the digit
                self.subscriber_errors += 1
                # The stack, without the exception's message: it might quote the digit.
                log.error(
                    "cid=%s dtmf: a digit subscriber failed: %s at\n%s",
                    cid,
                    type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
                )

    def stats(self) -> dict[str, Any]:
        return {
            "received": dict(self.received),
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "dropped_unknown_call": self.dropped_unknown_call,
            "dropped_not_caller": self.dropped_not_caller,
            "subscriber_errors": self.subscriber_errors,
            "record": self.record,
        }
