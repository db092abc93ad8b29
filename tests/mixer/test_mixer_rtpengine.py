"""The mixer behind a real rtpengine: rtpengine's own offers join the mixer, its
answers go back, and a caller's voice reaches the agent through rtpengine, the mixer
and rtpengine again (the path a monitored call's media takes)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from rtpengine import NgClient
from testbed import Mixer, Rtpengine, running_mixer, running_rtpengine, wait_until

from .test_mixer_process import TONES, ToneParty, answer_port, shares


def phone_sdp(port: int) -> str:
    return (
        f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rtpengine]:
    with running_rtpengine(tmp_path_factory.mktemp("rtpengine")) as engine:
        yield engine


@pytest.fixture(scope="module")
def mixer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixer]:
    with running_mixer(tmp_path_factory.mktemp("mixer")) as mixer:
        yield mixer


def test_a_party_is_heard_through_rtpengine_and_the_mixer(engine: Rtpengine, mixer: Mixer) -> None:
    rtpengine = NgClient("127.0.0.1", engine.ng_port, timeout=2)
    ng = mixer.client()
    conference = f"rtp-{secrets.token_hex(4)}"
    parties = {slot: ToneParty(TONES[slot]) for slot in ("caller", "agent")}
    try:
        for slot, party in parties.items():
            call_id = f"{conference}-{slot}"
            # The party's offer; rtpengine's offer towards the far end: the mixer.
            towards_mixer = rtpengine.request(
                "offer", **{"call-id": call_id, "from-tag": "party", "sdp": phone_sdp(party.port)}
            )["sdp"]
            joined = ng.request("join", conference=conference, slot=slot, sdp=towards_mixer)
            towards_party = rtpengine.request(
                "answer",
                **{
                    "call-id": call_id,
                    "from-tag": "party",
                    "to-tag": "mixer",
                    "sdp": joined["sdp"],
                },
            )["sdp"]
            party.start(("127.0.0.1", answer_port(towards_party)))
        ng.request("hear", conference=conference, hears={"caller": ["agent"], "agent": ["caller"]})
        since = time.monotonic() + 0.1
        wait_until(
            lambda: all(p.packets_since(since) >= 15 for p in parties.values()),
            timeout=5,
            what="each party hears the other through rtpengine and the mixer",
        )
        # rtpengine chose PCMU or PCMA for the mixer; the parties get what they offered.
        heard_by_agent = shares(parties["agent"].heard_since(since))
        heard_by_caller = shares(parties["caller"].heard_since(since))
        assert heard_by_agent["caller"] > 0.9, heard_by_agent
        assert heard_by_caller["agent"] > 0.9, heard_by_caller
    finally:
        for party in parties.values():
            party.close()
        ng.close()
        rtpengine.close()


def test_rtpengine_offer_is_answered_with_its_first_g711(mixer: Mixer, engine: Rtpengine) -> None:
    rtpengine = NgClient("127.0.0.1", engine.ng_port, timeout=2)
    ng = mixer.client()
    try:
        sdp = rtpengine.request(
            "offer",
            **{"call-id": f"codec-{secrets.token_hex(4)}", "from-tag": "a", "sdp": phone_sdp(4000)},
        )["sdp"]
        answer = ng.request("join", conference="codec", slot="caller", sdp=sdp)["sdp"]
        assert "m=audio" in answer and " RTP/AVP 8 101" in answer, (sdp, answer)
        ng.request("delete", conference="codec")
    finally:
        ng.close()
        rtpengine.close()
