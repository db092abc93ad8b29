"""The SDP of a slot: the offer rtpengine sends towards the mixer, and the mixer's answer.

rtpengine's offer is one audio stream: `c=` (session or media level), `m=audio <port>
RTP/AVP <formats>`, `a=rtpmap` lines, a direction, maybe `a=rtcp`, `a=ptime`, ICE or
crypto lines (ignored). The answer takes one port of the mixer's range, the first of
PCMU and PCMA in the offer's order, telephone-event at 8 kHz when offered (its packets
are dropped, but a peer that may send events then keeps them on the wire rather than
in band), and the mirrored direction. No `a=rtcp` and no rtcp-mux: the mixer sends no
RTCP and ignores what arrives (rtpengine copes with a peer that sends none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

PCMU: Final = 0
PCMA: Final = 8
_LAWS: Final = {"PCMU": PCMU, "PCMA": PCMA}
_MIRROR: Final = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
_PROTOCOLS: Final = ("RTP/AVP", "RTP/AVPF")


class SdpError(ValueError):
    """An offer the mixer cannot answer; the message says what is wrong with it."""


@dataclass(frozen=True)
class Offer:
    """What the mixer takes from an offer."""

    address: str  # where to send the slot's mix
    port: int
    protocol: str
    payload_type: int  # the audio format chosen: its number on the wire...
    law: int  # ...and its law, PCMU (0) or PCMA (8)
    event_type: int | None  # telephone-event/8000's number, when offered
    event_fmtp: str | None  # its fmtp (e.g. "0-16"), repeated in the answer
    direction: str  # the offer's: sendrecv, sendonly, recvonly, inactive

    @property
    def wants_media(self) -> bool:
        """Whether the offerer receives: the mixer sends it the slot's mix."""
        return self.direction in ("sendrecv", "recvonly") and self.address not in (
            "0.0.0.0",
            "::",
        )


def _sections(sdp: str) -> tuple[list[str], list[str]]:
    """The session-level lines and the first media stream's (its m= line first)."""
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    if not starts:
        raise SdpError("no m=audio line")
    first = starts[0]
    end = starts[1] if len(starts) > 1 else len(lines)  # a second stream is not a slot's
    if not lines[first].startswith("m=audio "):
        raise SdpError(f"the first media stream is not audio: {lines[first]!r}")
    return lines[:first], lines[first:end]


def parse_offer(sdp: str) -> Offer:
    """The audio stream of `sdp`; `SdpError` when there is none the mixer can take."""
    session, media = _sections(sdp)
    parts = media[0].split()
    if len(parts) < 4 or not parts[1].isdigit():
        raise SdpError(f"malformed m= line: {media[0]!r}")
    port, protocol, formats = int(parts[1]), parts[2], parts[3:]
    if not 0 < port < 65536:
        raise SdpError(f"m=audio port {port} is not a usable port")
    if protocol not in _PROTOCOLS:
        raise SdpError(f"m=audio protocol {protocol} is not plain RTP ({', '.join(_PROTOCOLS)})")
    address = _connection(media) or _connection(session)
    if address is None:
        raise SdpError("no c= line for the audio stream")
    rtpmap: dict[str, str] = {}
    fmtp: dict[str, str] = {}
    direction = _direction(session)
    for line in media[1:]:
        if match := re.match(r"a=rtpmap:(\d+)\s+(\S+)", line):
            rtpmap[match.group(1)] = match.group(2)
        elif match := re.match(r"a=fmtp:(\d+)\s+(.*)", line):
            fmtp[match.group(1)] = match.group(2).strip()
        elif line[2:] in _MIRROR and line.startswith("a="):
            direction = line[2:]
    chosen = next(
        ((int(f), law) for f in formats if (law := _law(f, rtpmap.get(f))) is not None), None
    )
    if chosen is None:
        raise SdpError(f"neither PCMU nor PCMA offered (formats {' '.join(formats)})")
    event = next((f for f in formats if rtpmap.get(f, "").lower() == "telephone-event/8000"), None)
    return Offer(
        address=address,
        port=port,
        protocol=protocol,
        payload_type=chosen[0],
        law=chosen[1],
        event_type=int(event) if event is not None else None,
        event_fmtp=fmtp.get(event) if event is not None else None,
        direction=direction,
    )


def _law(fmt: str, mapping: str | None) -> int | None:
    if mapping is not None:  # rtpmap decides, static number or not
        name, _, rate = mapping.partition("/")
        law = _LAWS.get(name.upper())
        return law if law is not None and rate.split("/")[0] == "8000" else None
    return int(fmt) if fmt in ("0", "8") else None


def _connection(lines: list[str]) -> str | None:
    for line in lines:
        if match := re.match(r"c=IN\s+IP[46]\s+([^\s/]+)", line):
            return match.group(1)
    return None


def _direction(lines: list[str]) -> str:
    found = [line[2:] for line in lines if line.startswith("a=") and line[2:] in _MIRROR]
    return found[-1] if found else "sendrecv"


def answer_sdp(offer: Offer, address: str, port: int, *, session_id: int, version: int) -> str:
    """The mixer's answer to `offer`: `address`:`port`, the offer's chosen law and
    telephone-event, the mirrored direction. `version` grows with each answer of the
    slot (o= line), so a peer sees a re-join as a change."""
    family = "IP6" if ":" in address else "IP4"
    formats = [str(offer.payload_type)]
    attributes = [f"a=rtpmap:{offer.payload_type} {'PCMU' if offer.law == PCMU else 'PCMA'}/8000"]
    if offer.event_type is not None:
        formats.append(str(offer.event_type))
        attributes.append(f"a=rtpmap:{offer.event_type} telephone-event/8000")
        if offer.event_fmtp is not None:
            attributes.append(f"a=fmtp:{offer.event_type} {offer.event_fmtp}")
    body = [
        "v=0",
        f"o=mixer {session_id} {version} IN {family} {address}",
        "s=mixer",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} {offer.protocol} {' '.join(formats)}",
        *attributes,
        "a=ptime:20",
        f"a={_MIRROR[offer.direction]}",
    ]
    return "\r\n".join(body) + "\r\n"
