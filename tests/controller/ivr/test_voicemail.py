"""Voicemail on a real controller (docs/call-control.md, "Voicemail"): an IVR voicemail
node takes the caller's message, rtpengine records it into its spool (pcap method), and
the events say so; a full box takes none. rtpengine runs with a recording spool here;
the controller reads its mailboxes from a runtime.json (tests/controller/ivr/conftest.py
runs it)."""

from __future__ import annotations

import math
import secrets
import struct
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

import bizdata
from controller._voicemail import GOODBYE, MAILBOX_FULL, beep_wav
from simulators import RtpEndpoint
from testbed import (
    Rtpengine,
    load_wav,
    media_of,
    prompt_present,
    running_rtpengine,
    wait_until,
)

from .conftest import NUMBER, IvrRig, ivr_controller, new_cid

pytestmark = pytest.mark.integration

GREETING = "您好，这里是销售部，请留言。"
TONE_HZ = 440
TONE_PACKETS = 50  # one second of audio
FLOW = """\
name: vm
languages: [zh, en]
start: box
nodes:
  box: {type: voicemail, box: sales}
"""
FULL_FLOW = FLOW.replace("name: vm", "name: full").replace("box: sales", "box: full")


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spool")


@pytest.fixture(scope="module")
def rec_engine(tmp_path_factory: pytest.TempPathFactory, spool: Path) -> Iterator[Rtpengine]:
    with running_rtpengine(tmp_path_factory.mktemp("rtpengine-rec"), recording_dir=spool) as e:
        yield e


def _settings() -> dict[str, Any]:
    return {
        "voicemail": {
            "boxes": {
                "sales": {"queue": "sales", "greeting_zh": GREETING, "max_message_s": 30},
                "full": {"queue": "sales", "max_messages": 1},
            }
        },
        "bizdata": {},
    }


FULL_NUMBER = "95597"


@pytest.fixture(scope="module")
def vm_rig(
    tmp_path_factory: pytest.TempPathFactory,
    rec_engine: Rtpengine,
    events_redis: redis.Redis,
    prompt_cache: Path,
) -> Iterator[IvrRig]:
    """One controller for the module: NUMBER goes to the box `sales`, FULL_NUMBER to the
    box `full`, which holds its one message already."""
    workdir = tmp_path_factory.mktemp("voicemail")
    run = workdir / "run"
    run.mkdir()
    url = bizdata.store_url(None, run)
    bizdata.migrate(url)
    engine = bizdata.open_engine(url)
    bizdata.add_voicemail(
        engine,
        message_id=uuid.uuid4().hex,
        box="full",
        caller="13900000000",
        call_id=new_cid(),
        recording_ref=uuid.uuid4().hex,
        received_at=datetime.now(UTC),
        duration_ms=2000,
        file="full/x.wav",
    )
    engine.dispose()
    with ivr_controller(
        workdir,
        rec_engine,
        events_redis,
        prompt_cache,
        flows={"vm": FLOW, "full": FULL_FLOW},
        flow_for=f"{NUMBER}=vm,{FULL_NUMBER}=full",
        settings=_settings(),
        extra=(
            "--voicemail-settings",
            str(run / "runtime.json"),
            "--voicemail-prompt-cache",
            str(prompt_cache),
        ),
    ) as rig:
        yield rig


def _tone_packets(ssrc: int, seconds_packets: int) -> list[bytes]:
    """PCMU RTP packets of a TONE_HZ tone, 20 ms each."""
    from simulators._audio import encode_ulaw

    packets = []
    for seq in range(seconds_packets):
        t = (np.arange(160) + seq * 160) / 8000
        pcm = (8000 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.int16)
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
        packets.append(header + encode_ulaw(pcm))
    return packets


def _pcap_udp(path: Path) -> list[tuple[int, int]]:
    """(UDP source port, destination port) of each packet of a raw-IPv4 pcap (linktype
    101, rtpengine's recording-format raw)."""
    data = path.read_bytes()
    assert struct.unpack("<I", data[20:24])[0] == 101, "not a raw-IP pcap"
    ports, at = [], 24
    while at + 16 <= len(data):
        length = struct.unpack("<I", data[at + 8 : at + 12])[0]
        packet = data[at + 16 : at + 16 + length]
        at += 16 + length
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] == 17:  # UDP
            ports.append(struct.unpack("!HH", packet[ihl : ihl + 4]))
    return ports


def _segment(spool: Path, ref: str) -> Path:
    """The pcap of the recording `ref`: its metadata file names it on the first line."""
    for meta in (spool / "metadata").glob("*"):
        text = meta.read_text(errors="replace")
        if f"huaan-ref={ref}" in text:
            return Path(text.splitlines()[0].strip())
    raise AssertionError(f"no metadata file for {ref} in {spool}")


def _wait_dtmf_feed(rig: IvrRig) -> None:
    wait_until(
        lambda: rig.controller.cmd("dtmf")["rtpengine"]["connected"],
        timeout=5,
        what="the controller connected to rtpengine's DTMF events",
    )


def test_a_message_left_through_an_ivr_voicemail_node_is_recorded_until_hash(
    vm_rig: IvrRig, prompt_cache: Path, spool: Path
) -> None:
    rig = vm_rig
    _wait_dtmf_feed(rig)
    cid = new_cid()
    rtp = RtpEndpoint(record=True)
    try:
        caller = rig.caller(cid, rtp)
        started = rig.wait_event(cid, "recording.started", timeout=20)
        assert started["reason"] == "voicemail"
        assert (started["name"], started["agent"]) == ("sales", "")
        assert started["number"] == NUMBER
        assert started["caller_port"].isdigit()
        caller.run.wait_for_log("ANSWERED", timeout=5)
        media = media_of(next(ln for ln in caller.run.log_lines() if "ANSWERED" in ln))
        for packet in _tone_packets(0x7E57 + secrets.randbelow(1000), TONE_PACKETS):
            rtp.send_packet(media, packet)
            time.sleep(0.005)
        rtp.send_dtmf(media, "#", interval_s=0.005)
        stopped = rig.wait_event(cid, "recording.stopped", timeout=10)
        assert stopped == {"ref": started["ref"], "segments": "1"}
        caller.run.wait_for_log("BYE", timeout=15)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        rig.wait_event(cid, "call.ended")

        kinds = rig.kinds(cid)
        order = ["call.ivr_done", "call.voicemail", "recording.started", "recording.stopped"]
        assert [k for k in kinds if k in order] == order
        assert kinds[-1] == "call.ended"
        # What the caller heard: the box's greeting, the beep, then goodbye.
        heard = rig.heard(rtp)
        assert prompt_present(heard, rig.prompt(GREETING))
        assert prompt_present(heard, load_wav(beep_wav(prompt_cache)))
        assert prompt_present(heard, rig.prompt(GOODBYE["zh"]))
        # The spool: one pcap with the caller's tone, sent to rtpengine's caller port.
        pcap = _segment(spool, started["ref"])
        ports = _pcap_udp(pcap)
        caller_port = int(started["caller_port"])
        from_caller = [p for p in ports if p == (rtp.port, caller_port)]
        assert len(from_caller) >= TONE_PACKETS, (len(from_caller), ports[:5])
        assert rig.controller.cmd("status")["calls"] == 0
        stats = rig.controller.cmd("voicemail")
        assert stats["enabled"] and stats["calls"] == [] and stats["results"]["left"] >= 1
    finally:
        rtp.close()


def test_a_full_box_says_so_and_records_nothing(vm_rig: IvrRig, prompt_cache: Path) -> None:
    rig = vm_rig
    cid = new_cid()
    rtp = RtpEndpoint(record=True)
    try:
        caller = rig.caller(cid, rtp, number=FULL_NUMBER)
        caller.run.wait_for_log("BYE", timeout=20)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        rig.wait_event(cid, "call.ended")
        kinds = rig.kinds(cid)
        assert "call.voicemail" in kinds
        assert not [k for k in kinds if k.startswith("recording.")]
        heard = rig.heard(rtp)
        assert prompt_present(heard, rig.prompt(MAILBOX_FULL["zh"]))
        assert not prompt_present(heard, load_wav(beep_wav(prompt_cache)))
    finally:
        rtp.close()
