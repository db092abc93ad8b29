"""What rtpengine pushes to its TCP ng clients unasked: notifications such as `onDTMF`.

With `--listen-tcp-ng` and `--dtmf-log-ng-tcp`, rtpengine (10.5 to 12.x at least)
sends every DTMF event it detects to *every* connected TCP ng client, written as
`<cookie> <bencoded dict>`, one after the other with no length prefix or separator:

    d6:notify6:onDTMF4:datad4:tags...6:callid...10:source_tag2:L15:event...ee

(`data`: `callid`, `source_tag`, `tags`, `type` "DTMF", `source_ip`, `timestamp`,
`event` 0-15, `duration` in ms, `volume`). The event is the same for an RFC 4733
`telephone-event` and for an in-band tone found by its DSP: nothing in it tells them
apart. `NotificationDecoder` splits the byte stream into dicts; `dtmf_event` reads one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rtpengine._bencode import BencodeError, BencodeTruncated, decode_prefix

# RFC 4733 section 3.2: events 0-9, then *, #, A, B, C, D.
DTMF_EVENTS = "0123456789*#ABCD"
_COOKIE = re.compile(rb"^[0-9A-Za-z_.-]{1,64}$")
# A notification is a few hundred bytes; a buffer far beyond that without one complete
# message is not rtpengine talking.
_MAX_PENDING = 64 * 1024


class NotificationError(ValueError):
    """The stream is not `<cookie> <bencode>` messages: resynchronise by reconnecting."""


class NotificationDecoder:
    """Splits rtpengine's TCP ng byte stream into decoded messages, in order."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The messages completed by `data` (none, one or several)."""
        self._pending += data
        messages: list[dict[str, Any]] = []
        while self._pending:
            space = self._pending.find(b" ")
            if space < 0:
                if len(self._pending) > 64:
                    raise NotificationError("no cookie at the start of a message")
                break
            cookie = self._pending[:space]
            if not _COOKIE.match(cookie):
                raise NotificationError(f"bad cookie {cookie[:32]!r}")
            try:
                value, end = decode_prefix(self._pending, space + 1)
            except BencodeTruncated:
                if len(self._pending) > _MAX_PENDING:
                    raise NotificationError("message larger than 64 KiB") from None
                break
            except BencodeError as exc:
                raise NotificationError(str(exc)) from exc
            self._pending = self._pending[end:]
            if not isinstance(value, dict):
                raise NotificationError("a message is not a dictionary")
            messages.append(_text_keys(value))
        return messages


def _text_keys(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {_text_keys(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text_keys(v) for v in value]
    return value


@dataclass(frozen=True)
class DtmfEvent:
    """One DTMF digit rtpengine saw, reported once, at its end."""

    call_id: str
    source_tag: str  # the monologue (our leg id) that sent it
    digit: str  # one of DTMF_EVENTS
    duration_ms: int

    def __repr__(self) -> str:  # the digit may be part of a PIN: keep it out of logs
        return f"DtmfEvent(call_id={self.call_id!r}, source_tag={self.source_tag!r})"


def dtmf_event(message: dict[str, Any]) -> DtmfEvent | None:
    """The DTMF event in a notification; None for any other message or a malformed one."""
    if message.get("notify") != "onDTMF":
        return None
    data = message.get("data")
    if not isinstance(data, dict):
        return None
    call_id, tag, event = data.get("callid"), data.get("source_tag"), data.get("event")
    if not isinstance(call_id, str) or not isinstance(tag, str) or not isinstance(event, int):
        return None
    if not 0 <= event < len(DTMF_EVENTS):
        return None
    duration = data.get("duration")
    return DtmfEvent(call_id, tag, DTMF_EVENTS[event], duration if isinstance(duration, int) else 0)
