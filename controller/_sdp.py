"""Just enough SDP reading for call control: where media goes and in which direction."""

from __future__ import annotations

import re

_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


def media_endpoint(sdp: str) -> tuple[str, int] | None:
    """The first audio stream's (address, port): session c= unless the m= section has one."""
    session_c = re.search(r"^c=IN IP[46] (\S+)", sdp, re.M)
    media = re.search(r"^m=audio (\d+)[^\r\n]*(.*?)(?=^m=|\Z)", sdp, re.M | re.S)
    if media is None:
        return None
    media_c = re.search(r"^c=IN IP[46] (\S+)", media.group(2), re.M)
    address = media_c or session_c
    if address is None:
        return None
    return address.group(1), int(media.group(1))


def direction(sdp: str) -> str:
    found = re.findall(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", sdp, re.M)
    return found[-1] if found else "sendrecv"


def offers_telephone_event(sdp: str | None) -> bool:
    """Whether the SDP offers RFC 4733 events (`telephone-event`) at any clock rate."""
    if sdp is None:
        return False
    return re.search(r"^a=rtpmap:\d+ telephone-event/", sdp, re.M | re.I) is not None


def mirror(direction_: str) -> str:
    return _MIRROR.get(direction_, "sendrecv")


def is_hold(sdp: str | None) -> bool:
    """An offer that puts the other side on hold: sendonly/inactive, or c=0.0.0.0 (RFC 2543)."""
    if sdp is None:
        return False
    endpoint = media_endpoint(sdp)
    return direction(sdp) in ("sendonly", "inactive") or (
        endpoint is not None and endpoint[0] == "0.0.0.0"
    )


def same_media(a: str | None, b: str | None) -> bool:
    """True when both describe the same address, port and direction (o= line ignored)."""
    if a is None or b is None:
        return a is b
    return media_endpoint(a) == media_endpoint(b) and direction(a) == direction(b)


def park_answer(offer: str, address: str, port: int, version: int = 1) -> str:
    """An answer for a far side that takes the offerer's audio and sends none.

    It points at a discard port and repeats the offer's first audio formats, with
    the mirrored direction, so it is a valid answer to `offer` whatever its codecs.
    """
    family = "IP6" if ":" in address else "IP4"
    media = re.search(r"^m=audio \d+ (\S+) ([^\r\n]*)", offer, re.M)
    proto, formats = (media.group(1), media.group(2).split()) if media else ("RTP/AVP", ["0"])
    lines = []
    for line in offer.splitlines():
        attribute = re.match(r"a=(?:rtpmap|fmtp):(\d+) ", line)
        if attribute is not None and attribute.group(1) in formats:
            lines.append(line)
    body = [
        "v=0",
        f"o=park 1 {version} IN {family} {address}",
        "s=-",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} {proto} {' '.join(formats)}",
        *lines,
        f"a={mirror(direction(offer))}",
    ]
    return "\r\n".join(body) + "\r\n"


# What a synthetic park offer proposes: G.711 in both laws and DTMF events. Any SIP
# phone or trunk takes one of these, and the party's answer then fixes the codec that
# its real peer is offered later.
_PARK_OFFER_FORMATS = (("0", "PCMU/8000"), ("8", "PCMA/8000"), ("101", "telephone-event/8000"))


def park_offer(address: str, port: int, version: int = 1) -> str:
    """An offer from "nobody": the far side of a leg that has no peer yet.

    rtpengine turns it into the SDP of an INVITE to a party that must be anchored
    before its peer exists (the agent of an originated call, an intercepting
    supervisor). It points at the discard address, so the party's audio goes nowhere
    until the leg is paired with its real peer.
    """
    family = "IP6" if ":" in address else "IP4"
    formats = " ".join(number for number, _ in _PARK_OFFER_FORMATS)
    body = [
        "v=0",
        f"o=park 1 {version} IN {family} {address}",
        "s=-",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
        *(f"a=rtpmap:{number} {name}" for number, name in _PARK_OFFER_FORMATS),
        "a=sendrecv",
    ]
    return "\r\n".join(body) + "\r\n"
