"""The offer rtpengine sends towards the mixer, and the mixer's answer."""

from __future__ import annotations

import pytest

from mixer._sdp import PCMA, PCMU, SdpError, answer_sdp, parse_offer

# What rtpengine 10.5 offers (the shape of its offers in tests/controller).
RTPENGINE_OFFER = (
    "v=0\r\n"
    "o=- 1545997027 1 IN IP4 127.0.0.1\r\n"
    "s=tester\r\n"
    "t=0 0\r\n"
    "m=audio 30012 RTP/AVP 8 0 101\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n"
    "a=rtcp:30013\r\n"
    "a=ptime:20\r\n"
)


def test_rtpengine_offer() -> None:
    offer = parse_offer(RTPENGINE_OFFER)
    assert (offer.address, offer.port, offer.protocol) == ("127.0.0.1", 30012, "RTP/AVP")
    assert (offer.payload_type, offer.law) == (8, PCMA)  # the first of PCMU/PCMA offered
    assert (offer.event_type, offer.event_fmtp, offer.direction) == (101, "0-16", "sendrecv")
    assert offer.wants_media


def test_answer() -> None:
    offer = parse_offer(RTPENGINE_OFFER)
    answer = answer_sdp(offer, "127.0.0.1", 40002, session_id=77, version=2)
    assert answer.endswith("\r\n")
    lines = answer.split("\r\n")
    assert "o=mixer 77 2 IN IP4 127.0.0.1" in lines
    assert "c=IN IP4 127.0.0.1" in lines
    assert "m=audio 40002 RTP/AVP 8 101" in lines
    assert "a=rtpmap:8 PCMA/8000" in lines
    assert "a=rtpmap:101 telephone-event/8000" in lines
    assert "a=fmtp:101 0-16" in lines
    assert "a=sendrecv" in lines
    assert not any(line.startswith(("a=rtcp", "a=rtcp-mux")) for line in lines)
    # The answer is an offer the mixer itself could take.
    again = parse_offer(answer)
    assert (again.port, again.payload_type, again.event_type) == (40002, 8, 101)


def test_pcmu_first_without_events_session_level_connection() -> None:
    sdp = (
        "v=0\nc=IN IP4 10.1.2.3\nt=0 0\nm=audio 5000 RTP/AVP 18 0 8\n"
        "a=rtpmap:18 G729/8000\na=sendonly\n"
    )
    offer = parse_offer(sdp)
    assert (offer.address, offer.payload_type, offer.law, offer.event_type) == (
        "10.1.2.3",
        0,
        PCMU,
        None,
    )
    assert offer.direction == "sendonly" and not offer.wants_media
    answer = answer_sdp(offer, "10.0.0.1", 6000, session_id=1, version=1)
    assert "m=audio 6000 RTP/AVP 0\r\n" in answer and "a=recvonly" in answer
    assert "telephone-event" not in answer


def test_hold_and_dynamic_g711_and_ipv6() -> None:
    held = parse_offer("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5000 RTP/AVP 0\r\n")
    assert not held.wants_media
    dynamic = parse_offer(
        "v=0\r\nc=IN IP6 ::1\r\nm=audio 5000 RTP/AVP 96 97\r\n"
        "a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 PCMU/8000\r\n"
        "a=rtpmap:98 telephone-event/48000\r\n"
    )
    assert (dynamic.address, dynamic.payload_type, dynamic.law) == ("::1", 97, PCMU)
    assert "IN IP6 ::1" in answer_sdp(dynamic, "::1", 7000, session_id=1, version=1)


def test_only_the_first_stream_counts() -> None:
    sdp = RTPENGINE_OFFER + "m=video 30020 RTP/AVP 96\r\nc=IN IP4 10.9.9.9\r\na=sendonly\r\n"
    offer = parse_offer(sdp)
    assert (offer.address, offer.direction) == ("127.0.0.1", "sendrecv")


@pytest.mark.parametrize(
    ("sdp", "reason"),
    [
        ("v=0\r\nc=IN IP4 1.2.3.4\r\n", "no m=audio"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5000 RTP/AVP 96\r\n", "not audio"),
        ("v=0\r\nm=audio 5000 RTP/AVP 0\r\n", "no c= line"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 18 9\r\n", "neither PCMU nor PCMA"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n", "not a usable port"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/SAVP 0\r\n", "not plain RTP"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", "malformed m= line"),
        (
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/16000\r\n",
            "neither PCMU nor PCMA",
        ),
    ],
)
def test_offers_the_mixer_cannot_take(sdp: str, reason: str) -> None:
    with pytest.raises(SdpError, match=reason):
        parse_offer(sdp)
