"""The real `python -m mixer`: three parties on UDP endpoints, each sending its own tone
(caller 440 Hz, agent 1 kHz, supervisor 2.5 kHz); who hears whom in each mode of
docs/monitoring.md's table, by Goertzel; a switch that takes effect at once; bad
commands; recording; retransmissions; the idle timeout; a full port range; SIGTERM."""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import fastbencode
import numpy as np
import pytest

from mixer.__main__ import main as mixer_main
from rtpengine import NgClient, NgError
from simulators import RtpEndpoint, decode_ulaw, encode_ulaw, goertzel_power, tone_fraction
from testbed import Mixer, running_mixer, wait_until

TONES = {"caller": 440.0, "agent": 1000.0, "sup:s1": 2500.0}
# docs/monitoring.md: the mode table, as the controller sets it.
MODES = {
    "listen": {"caller": ["agent"], "agent": ["caller"], "sup:s1": ["caller", "agent"]},
    "whisper": {
        "caller": ["agent"],
        "agent": ["caller", "sup:s1"],
        "sup:s1": ["caller", "agent"],
    },
    "barge": {
        "caller": ["agent", "sup:s1"],
        "agent": ["caller", "sup:s1"],
        "sup:s1": ["caller", "agent"],
    },
}
AMPLITUDE = 6000  # three of them summed stay far from clipping


def offer(port: int, formats: str = "0 8 101") -> str:
    """An offer as rtpengine sends it towards the mixer."""
    return (
        "v=0\r\no=- 1545997027 1 IN IP4 127.0.0.1\r\ns=rtpengine\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {formats}\r\nc=IN IP4 127.0.0.1\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        f"a=sendrecv\r\na=rtcp:{port + 1}\r\na=ptime:20\r\n"
    )


def answer_port(sdp: str) -> int:
    return int(next(line for line in sdp.splitlines() if line.startswith("m=audio")).split()[1])


class ToneParty:
    """A party behind an RTP endpoint: sends its tone in real time (20 ms PCMU frames,
    its own SSRC), records what it receives."""

    def __init__(self, freq: float) -> None:
        self.freq = freq
        self.endpoint = RtpEndpoint(record=True)
        n = np.arange(8000)  # one second: a whole number of periods of each tone
        pcm = (AMPLITUDE * np.sin(2 * np.pi * freq * n / 8000)).astype(np.int16)
        self._frames = [encode_ulaw(pcm[i : i + 160]) for i in range(0, 8000, 160)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dest: tuple[str, int] | None = None

    @property
    def port(self) -> int:
        return self.endpoint.port

    def start(self, dest: tuple[str, int]) -> None:
        self.dest = dest
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def _send(self) -> None:
        ssrc = secrets.randbits(32)
        due = time.monotonic()
        k = 0
        while not self._stop.is_set():
            header = struct.pack("!BBHII", 0x80, 0, k & 0xFFFF, (k * 160) & 0xFFFFFFFF, ssrc)
            assert self.dest is not None
            self.endpoint.send_packet(self.dest, header + self._frames[k % 50])
            k += 1
            due += 0.02
            time.sleep(max(0.0, due - time.monotonic()))  # pacing, as a phone sends

    def heard_since(self, since: float) -> np.ndarray:
        packets = [p for p in self.endpoint.packets() if p.arrival >= since]
        return decode_ulaw(b"".join(p.payload for p in packets))

    def packets_since(self, since: float) -> int:
        return sum(1 for p in self.endpoint.packets() if p.arrival >= since)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        self.endpoint.close()


@pytest.fixture(scope="module")
def mixer_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixer]:
    with running_mixer(tmp_path_factory.mktemp("mixer"), idle_timeout_ms=600) as mixer:
        yield mixer


@pytest.fixture
def ng(mixer_process: Mixer) -> Iterator[NgClient]:
    client = mixer_process.client()
    yield client
    client.close()


@pytest.fixture
def call(ng: NgClient) -> Iterator[tuple[str, dict[str, ToneParty]]]:
    """A conference of three joined parties, all sending; nobody hears anybody yet."""
    conference = f"call-{secrets.token_hex(4)}"
    parties = {slot: ToneParty(freq) for slot, freq in TONES.items()}
    for slot, party in parties.items():
        sdp = ng.request("join", conference=conference, slot=slot, sdp=offer(party.port))["sdp"]
        assert "a=rtpmap:0 PCMU/8000" in sdp and "telephone-event/8000" in sdp, sdp
        party.start(("127.0.0.1", answer_port(sdp)))
    yield conference, parties
    for party in parties.values():
        party.close()
    if conference in ng.request("list")["conferences"]:
        ng.request("delete", conference=conference)


def shares(pcm: np.ndarray) -> dict[str, float]:
    return {slot: tone_fraction(pcm, freq) for slot, freq in TONES.items()}


def test_each_mode_mixes_whom_the_table_says(
    ng: NgClient, call: tuple[str, dict[str, ToneParty]]
) -> None:
    conference, parties = call
    for mode, hears in MODES.items():
        ng.request("hear", conference=conference, hears=hears)
        since = time.monotonic() + 0.06  # past the packets already on their way
        wait_until(
            lambda since=since: all(p.packets_since(since) >= 15 for p in parties.values()),
            timeout=5,
            what=f"300 ms of {mode} at every party",
        )
        for listener, party in parties.items():
            heard = shares(party.heard_since(since))
            for slot in TONES:
                if slot in hears[listener]:
                    # One tone alone is ~1.0 of the energy, two equal tones ~0.5 each.
                    assert heard[slot] > 0.3, (mode, listener, slot, heard)
                else:
                    assert heard[slot] < 0.02, (mode, listener, slot, heard)
    stats = ng.request("statistics", conference=conference)["slots"]
    for slot in TONES:
        assert stats[slot]["packets_in"] > 0 and stats[slot]["packets_out"] > 0, stats
        assert stats[slot]["lost"] == 0, stats


def test_a_switch_takes_effect_within_two_packets(
    ng: NgClient, call: tuple[str, dict[str, ToneParty]]
) -> None:
    conference, parties = call
    ng.request("hear", conference=conference, hears=MODES["listen"])
    agent = parties["agent"]
    wait_until(lambda: agent.packets_since(time.monotonic() - 0.1) >= 3, timeout=5, what="audio")
    switched = time.monotonic()
    ng.request("hear", conference=conference, hears=MODES["whisper"])
    wait_until(lambda: agent.packets_since(switched) >= 6, timeout=5, what="packets after it")
    packets = [p for p in agent.endpoint.packets() if p.arrival >= switched][:6]
    with_supervisor = [
        float(goertzel_power(decode_ulaw(p.payload), TONES["sup:s1"])[0]) > 0.1 for p in packets
    ]
    # At most the packets already sent (or on their way) lack the supervisor's voice.
    first = with_supervisor.index(True)
    assert first <= 2 and all(with_supervisor[first:]), with_supervisor


def test_output_rtp_is_a_stream_of_its_own(
    ng: NgClient, call: tuple[str, dict[str, ToneParty]]
) -> None:
    conference, parties = call
    ng.request("hear", conference=conference, hears=MODES["barge"])
    caller = parties["caller"]
    since = time.monotonic()
    wait_until(lambda: caller.packets_since(since) >= 10, timeout=5, what="10 packets")
    packets = [p for p in caller.endpoint.packets() if p.arrival >= since][:10]
    assert len({p.ssrc for p in packets}) == 1
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    for a, b in itertools.pairwise(packets):
        assert (b.seq - a.seq) & 0xFFFF == 1
        assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160


def test_bad_commands_get_errors_and_change_nothing(ng: NgClient, mixer_process: Mixer) -> None:
    conference = f"bad-{secrets.token_hex(4)}"
    cases = [
        ({"command": "conjure"}, "unknown command"),
        ({"command": "join", "conference": conference, "slot": "caller"}, "'sdp'"),
        ({"command": "join", "slot": "caller", "sdp": offer(4000)}, "'conference'"),
        (
            {
                "command": "join",
                "conference": conference,
                "slot": "caller",
                "sdp": offer(4000, "18 101"),
            },
            "neither PCMU nor PCMA",
        ),
        ({"command": "hear", "conference": conference, "hears": {}}, "unknown conference"),
        ({"command": "leave", "conference": conference, "slot": "x"}, "unknown conference"),
        ({"command": "delete", "conference": conference}, "unknown conference"),
        ({"command": "stop record", "conference": conference}, "unknown conference"),
    ]
    for request, reason in cases:
        params = {k: v for k, v in request.items() if k != "command"}
        with pytest.raises(NgError, match=reason):
            ng.request(str(request["command"]), **params)
    assert conference not in ng.request("list")["conferences"]  # no half-made conference
    ng.request("join", conference=conference, slot="caller", sdp=offer(4000))
    errors = [
        ({"hears": {"caller": ["agent"]}}, "unknown slot 'agent'"),
        ({"hears": {"caller": ["caller"]}}, "does not hear itself"),
        ({"hears": {"caller": "agent"}}, "list of slot names"),
    ]
    for params, reason in errors:
        with pytest.raises(NgError, match=reason):
            ng.request("hear", conference=conference, **params)
    with pytest.raises(NgError, match="not an absolute path"):
        ng.request("record", conference=conference, file="x.wav", channels=[["caller"]])
    with pytest.raises(NgError, match="channels"):
        ng.request("record", conference=conference, file="/tmp/x.wav", channels=["caller"])
    with pytest.raises(NgError, match="not recording"):
        ng.request("stop record", conference=conference)
    ng.request("delete", conference=conference)
    # A datagram that is no bencode gets an error under its cookie too.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"c00kie not-bencode", mixer_process.ng)
        cookie, _, body = sock.recv(65535).partition(b" ")
    assert cookie == b"c00kie"
    assert fastbencode.bdecode(body)[b"result"] == b"error"


def test_a_retransmitted_join_is_answered_from_the_cache(
    ng: NgClient, mixer_process: Mixer
) -> None:
    conference = f"rtx-{secrets.token_hex(4)}"
    body = fastbencode.bencode(
        {
            b"command": b"join",
            b"conference": conference.encode(),
            b"slot": b"caller",
            b"sdp": offer(4000).encode(),
        }
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        replies = []
        for _ in range(2):
            sock.sendto(b"rtx1 " + body, mixer_process.ng)
            replies.append(sock.recv(65535))
    assert replies[0] == replies[1]
    assert list(ng.request("statistics", conference=conference)["slots"]) == ["caller"]
    ng.request("delete", conference=conference)


def _read_wav(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return w.getnchannels(), w.getframerate(), data.reshape(-1, w.getnchannels())


def test_record_writes_a_channel_per_party(
    ng: NgClient, call: tuple[str, dict[str, ToneParty]], tmp_path: Path
) -> None:
    conference, parties = call
    ng.request("hear", conference=conference, hears=MODES["listen"])
    target = tmp_path / "monitor" / "2026-12-07" / "ref.wav"
    ng.request(
        "record",
        conference=conference,
        file=str(target),
        channels=[["caller"], ["agent"], ["sup:s1"]],
    )
    started = time.monotonic()
    sup = parties["sup:s1"]
    wait_until(lambda: sup.packets_since(started) >= 20, timeout=5, what="400 ms recorded")
    assert not target.exists()  # only the temporary name while it is written
    reply = ng.request("stop record", conference=conference)
    assert reply["file"] == str(target) and reply["duration_ms"] >= 300, reply
    channels, rate, pcm = _read_wav(target)
    assert (channels, rate) == (3, 8000)
    assert abs(len(pcm) * 1000 // 8000 - reply["duration_ms"]) <= 1
    for channel, slot in enumerate(TONES):
        # What each party said, whether or not anybody heard it (listen: sup is heard by none).
        assert tone_fraction(pcm[:, channel], TONES[slot]) > 0.9, (slot, shares(pcm[:, channel]))
    assert not list(target.parent.glob("*.tmp"))


def test_delete_completes_a_recording(
    ng: NgClient, call: tuple[str, dict[str, ToneParty]], tmp_path: Path
) -> None:
    conference, _ = call
    target = tmp_path / "deleted.wav"
    ng.request("record", conference=conference, file=str(target), channels=[["caller", "agent"]])
    before = ng.request("statistics", conference=conference)["slots"]["caller"]["packets_in"]
    wait_until(
        lambda: (
            ng.request("statistics", conference=conference)["slots"]["caller"]["packets_in"]
            > before + 10
        ),
        timeout=5,
        what="200 ms recorded",
    )
    reply = ng.request("delete", conference=conference)
    assert reply["file"] == str(target)
    channels, _, pcm = _read_wav(target)
    assert channels == 1 and len(pcm) > 0
    mixed = shares(pcm[:, 0])
    assert mixed["caller"] > 0.2 and mixed["agent"] > 0.2, mixed
    assert conference not in ng.request("list")["conferences"]


def test_an_idle_conference_is_forgotten(ng: NgClient) -> None:
    conference = f"idle-{secrets.token_hex(4)}"
    ng.request("join", conference=conference, slot="caller", sdp=offer(4000))
    assert conference in ng.request("list")["conferences"]
    wait_until(
        lambda: conference not in ng.request("list")["conferences"],
        timeout=3,
        what="the idle timeout (600 ms) ends the conference",
    )


def test_a_full_range_refuses_and_sigterm_completes_the_recording(tmp_path: Path) -> None:
    target = tmp_path / "at-exit.wav"
    with running_mixer(tmp_path / "small", ports=2) as mixer:
        client = mixer.client()
        for slot in ("caller", "agent", "sup:a"):
            client.request("join", conference="c", slot=slot, sdp=offer(4000))
        with pytest.raises(NgError, match="no free port"):
            client.request("join", conference="c", slot="sup:b", sdp=offer(4000))
        with pytest.raises(NgError, match="no free port"):
            client.request("join", conference="d", slot="caller", sdp=offer(4000))
        assert client.request("list")["conferences"] == ["c"]
        client.request("leave", conference="c", slot="sup:a")
        client.request("join", conference="c", slot="sup:b", sdp=offer(4000))  # port freed
        client.request("record", conference="c", file=str(target), channels=[["caller"]])
        os.kill(mixer.process.pid, signal.SIGTERM)
        assert mixer.process.wait(timeout=5) == 0, mixer.log_text()[-2000:]
        client.close()
    assert _read_wav(target)[0] == 1


def test_a_taken_ng_port_is_a_clear_error(
    mixer_process: Mixer, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process (main() as `python -m mixer` runs it): only the exit and the message matter.
    assert mixer_main(["--config", str(mixer_process.config), "--node", "0"]) == 2
    host, port = mixer_process.ng
    assert f"mixer: cannot listen for ng on {host}:{port}: Address already in use" in (
        capsys.readouterr().err
    )


def test_a_bad_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mixer_main(["--config", str(tmp_path / "none.yaml"), "--node", "0"]) == 2
    assert "none.yaml" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nmonitoring:\n  mixers:\n    - {ng: nowhere}\n")
    assert mixer_main(["--config", str(broken), "--node", "0"]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "monitoring" in err, err
