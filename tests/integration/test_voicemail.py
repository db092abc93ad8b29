"""Voicemail on the whole stack (`callcenter up` with `recording:`): a caller waiting in
a queue with a box presses the escape key, is taken out of the ACD's queue into the box,
leaves a message (a tone) that the recorder stores as the box's WAV; and
message-waiting indication: when a box's messages change (voicemail.left in the event
log), presence sends the owner's registered phone a NOTIFY through Kamailio.

The phone in the MWI test is a UDP socket registered by sipp as agent 1001's Contact:
what reached it is the NOTIFY Kamailio sent (answered 200, as a phone does)."""

from __future__ import annotations

import math
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import bizdata
from eventlog import DEFAULT_STREAM, VOICEMAIL_LEFT, Event, EventLog
from simulators import encode_ulaw, free_port, load_wav, registration, tone_fraction
from testbed import REALM, wait_until
from testbed._acd_path import (
    AcdPath,
    acd_path_config,
    carrier_call,
    hang_up,
    running_acd_path,
)

pytestmark = pytest.mark.integration

NUMBER = "95511"
LATE_NUMBER = "95512"  # its queue sends a caller to voicemail after 300 ms
QUEUE = "sales"
LATE = "late"
AGENT = "1001"


TONE_HZ = 440


def _tone_packets(ssrc: int, count: int) -> list[bytes]:
    """PCMU RTP packets of a TONE_HZ tone, 20 ms each."""
    packets = []
    for seq in range(count):
        t = (np.arange(160) + seq * 160) / 8000
        pcm = (8000 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.int16)
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
        packets.append(header + encode_ulaw(pcm))
    return packets


class NotifyCatcher:
    """A phone's SIP port, for MWI: keeps every request that reaches it, answers 200."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-catcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            text = data.decode(errors="replace")
            if text.startswith("SIP/2.0"):
                continue
            self.requests.append(text)
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
            keep = [
                h
                for h in head
                if h.split(":", 1)[0].strip().lower() in ("via", "from", "call-id", "cseq")
            ]
            to = next((h for h in head if h.lower().startswith("to:")), "To: <sip:x@x>")
            reply = "\r\n".join(
                ["SIP/2.0 200 OK", *keep, f"{to};tag={secrets.token_hex(4)}", "Content-Length: 0"]
            )
            self.sock.sendto((reply + "\r\n\r\n").encode(), peer)

    def notifies(self) -> list[str]:
        return [r for r in self.requests if r.startswith("NOTIFY ")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="module")
def path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcdPath]:
    workdir = tmp_path_factory.mktemp("voicemail-stack")
    config, passwords = acd_path_config(
        workdir,
        (AGENT,),
        numbers=[
            {"number": NUMBER, "category": "sales", "target": "controller", "queue": QUEUE},
            {"number": LATE_NUMBER, "category": "late", "target": "controller", "queue": LATE},
        ],
        queues=[
            {"name": QUEUE, "skills": {"sales": 1}, "voicemail_box": QUEUE},
            {
                "name": LATE,
                "skills": {"sales": 1},
                "max_wait_ms": 300,
                "overflow_target": "voicemail",
                "voicemail_box": QUEUE,
            },
        ],
        skills={"sales": 1},
        controller_name="vm-ctl0",
    )
    config["voicemail"] = {
        "boxes": {
            QUEUE: {
                "queue": QUEUE,
                "notify": [AGENT],
                "max_message_s": 5,
                "greeting_zh": "请留言。",
            }
        },
        "escape_key": "9",
    }
    config["bizdata"] = {}
    config["presence"] = {"managed": True, "poll_ms": 500}
    config["recording"] = {"listen": f"127.0.0.1:{free_port()}", "missing_after_ms": 2000}
    with running_acd_path(request, workdir, config, passwords) as running:
        yield running


def test_the_escape_key_takes_a_waiting_caller_from_the_queue_to_its_box(
    path: AcdPath, tmp_path: Path
) -> None:
    mark = path.log_mark()
    caller = carrier_call(path, tmp_path, NUMBER, record=True)
    caller.run.wait_for_log("ANSWERED", timeout=10)
    line = next(ln for ln in caller.run.log_lines() if ln.startswith("ANSWERED"))
    media = ("127.0.0.1", int(line.rsplit(":", 1)[1]))
    wait_until(lambda: path.queue_view(QUEUE).waiting == 1, timeout=10, what="the call waits")
    wait_until(lambda: path.arrivals(mark), timeout=5, what="call.arrived in the log")
    (cid,) = {e.correlation_id for e in path.arrivals(mark)}
    caller.rtp.send_dtmf(media, "9", interval_s=0.005)
    wait_until(
        lambda: any(e.kind == "call.voicemail" for e in path.events(cid)),
        timeout=10,
        what="call.voicemail",
    )
    # The ACD let the call go (Abandon): nobody waits in the queue any more.
    wait_until(lambda: path.queue_view(QUEUE).waiting == 0, timeout=10, what="the queue empties")
    wait_until(
        lambda: any(e.kind == "recording.started" for e in path.events(cid)),
        timeout=15,
        what="the message's recording",
    )
    (started,) = [e.data for e in path.events(cid) if e.kind == "recording.started"]
    assert (started["reason"], started["name"], started["agent"]) == ("voicemail", QUEUE, "")
    assert started["queue"] == QUEUE
    # 1.5 s of a tone at a phone's pace (a message under 1 s is dropped), then "#".
    for packet in _tone_packets(0x5A1E5, 75):
        caller.rtp.send_packet(media, packet)
        time.sleep(0.02)
    caller.rtp.send_dtmf(media, "#", interval_s=0.005)
    caller.run.wait_for_log("BYE", timeout=15)  # goodbye, and the controller hangs up
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    kinds = [e.kind for e in path.ended_events(cid)]
    assert kinds.count("call.voicemail") == 1
    log = path.stack.layout.log_file("controller0").read_text()
    assert f"cid={cid} abandoned at the ACD" in log
    # The recorder stores the caller's side as the box's message.
    wait_until(
        lambda: any(e.kind == "voicemail.left" for e in path.events(cid)),
        timeout=20,
        what="voicemail.left",
    )
    (left,) = [e.data for e in path.events(cid) if e.kind == "voicemail.left"]
    assert (left["box"], left["ref"]) == (QUEUE, started["ref"])
    wav = path.stack.layout.root / "voicemail" / QUEUE / f"{left['message_id']}.wav"
    pcm = load_wav(wav)
    assert len(pcm) >= 1.5 * 8000
    assert tone_fraction(pcm, TONE_HZ) > 0.9


def test_a_queues_overflow_to_voicemail_takes_the_caller_to_its_box(
    path: AcdPath, tmp_path: Path
) -> None:
    mark = path.log_mark()
    caller = carrier_call(path, tmp_path, LATE_NUMBER)
    wait_until(lambda: path.arrivals(mark), timeout=10, what="call.arrived in the log")
    (cid,) = {e.correlation_id for e in path.arrivals(mark)}
    wait_until(
        lambda: any(e.kind == "recording.started" for e in path.events(cid)),
        timeout=15,
        what="the message's recording after the overflow",
    )
    hang_up(caller)
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    events = path.ended_events(cid)
    kinds = [e.kind for e in events]
    assert "call.voicemail" in kinds and "recording.stopped" in kinds
    (started,) = [e.data for e in events if e.kind == "recording.started"]
    assert (started["reason"], started["name"], started["queue"]) == ("voicemail", QUEUE, LATE)
    (ended,) = [e.data for e in events if e.kind == "call.ended"]
    assert ended["side"] == "caller"  # not hung up with cause overflow:voicemail
    assert path.queue_view(LATE).waiting == 0


def test_a_left_message_lights_the_owners_phone(path: AcdPath, tmp_path: Path) -> None:
    stack = path.stack
    phone = NotifyCatcher()
    try:
        run = registration(
            stack.sip, AGENT, stack.passwords[AGENT], REALM, phone.port, workdir=tmp_path
        )
        assert any(ln.startswith("REGISTERED") for ln in run.log_lines()), run.errors()
        # presence's MWI consumer group exists: it reads what is written from now on.
        wait_until(
            lambda: (
                any(
                    g["name"].startswith(b"presence.mwi.")
                    for g in path.events_redis.xinfo_groups(DEFAULT_STREAM)
                )
                if path.events_redis.exists(DEFAULT_STREAM)
                else False
            ),
            timeout=15,
            what="presence's MWI consumer group",
        )
        url = bizdata.store_url(stack.config.bizdata, stack.layout.root)
        engine = bizdata.open_engine(url)
        message = uuid.uuid4().hex
        bizdata.add_voicemail(
            engine,
            message_id=message,
            box=QUEUE,
            caller="13912345678",
            call_id=secrets.token_hex(16),
            recording_ref=uuid.uuid4().hex,
            received_at=datetime.now(UTC),
            duration_ms=3000,
            file=f"{QUEUE}/{message}.wav",
        )
        counts = bizdata.count_voicemail(engine, QUEUE)
        engine.dispose()
        EventLog(path.events_redis, stream=DEFAULT_STREAM).append(
            Event.new(
                VOICEMAIL_LEFT,
                correlation_id=secrets.token_hex(16),
                node="test",
                ts=time.time(),
                box=QUEUE,
                message_id=message,
                caller="13912345678",
                duration_ms="3000",
                ref=uuid.uuid4().hex,
            )
        )
        wait_until(phone.notifies, timeout=10, what="a NOTIFY at the phone")
        notify = phone.notifies()[0]
        head, _, body = notify.partition("\r\n\r\n")
        assert head.startswith(f"NOTIFY sip:{AGENT}@127.0.0.1:{phone.port}")
        assert "Event: message-summary" in head
        assert "Content-Type: application/simple-message-summary" in head
        assert f"To: <sip:{AGENT}@{REALM}>" in head
        assert body == (
            "Messages-Waiting: yes\r\n"
            f"Message-Account: sip:{QUEUE}@{REALM}\r\n"
            f"Voice-Message: {counts['new']}/{counts['heard']} (0/0)\r\n"
        )
    finally:
        phone.close()
