"""The IVR benchmark's callers: one sipp UAC (sipp/bench_ivr_caller.xml) and its media.

sipp 3.6 sends a call's media two ways, and the scenario uses both:
- `rtp_stream` loops a file of raw PCMA bytes in 20 ms packets, every call from the
  one UDP socket sipp binds to the -mp port. Nothing reads that socket: what
  rtpengine plays back fills its buffer and is dropped there (the kernel counts it in
  /proc/net/udp against the -mp port; the benchmark reports drops by port);
- `play_pcap_audio` replays a capture through a raw socket, one thread per play.
  That is how the digits go: short captures, so only the digits in flight hold a
  raw socket (every raw UDP socket costs the kernel a little on every loopback
  datagram: about 2 us per packet with 300 of them open, measured here).

The digits are RFC 4733 events written here, not sipp's own
/usr/share/sip-tester/dtmf_2833_<d>.pcap: those carry one RTP timestamp per digit value
on one SSRC, so the same digit twice in a row (the menu's "1" followed by an account
number starting with "1") reaches rtpengine as one event (one run here read "11" as a
single "1"). And they come as two captures, the menu's digit and the account's nine,
not one per digit: sipp 3.6 keeps one media thread per call, and a play that starts
while the call's last one still runs cancels it, so with a capture per digit a late
thread could lose a digit's end (a run on a saturated machine had rtpengine report 12
of 964 calls a digit short; none since, in 26,000 calls).
"""

from __future__ import annotations

import shutil
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from simulators import SippRun, free_port, start_sipp

SCENARIO = Path(__file__).resolve().parent.parent / "sipp" / "bench_ivr_caller.xml"
SPEECH_PCAP = Path("/usr/share/sip-tester/g711a.pcap")  # 7 s of speech, PCMA
TELEPHONE_EVENT_PT = 101  # the scenario's SDP: a=rtpmap:101 telephone-event/8000
DIGITS = 10  # the menu's, then the account number's nine (with '#')
EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13}
EVENT_CODES.update({"C": 14, "D": 15})
TONE_MS = 160  # each digit: 8 packets of 20 ms, then 3 end packets (RFC 4733 2.5.1.4)
DIGIT_SSRC = 0x49565242


@dataclass(frozen=True)
class Pacing:
    """When the caller acts, in ms: the scenario's keys."""

    menu_ms: int  # from the answer to the menu digit
    prompt_ms: int  # from the menu digit to the account's first digit
    gap_ms: int  # between two digits of the account number
    listen_ms: int  # from the last digit to the BYE (the balance is spoken)

    @property
    def call_ms(self) -> int:
        """The call's length from the answer to the BYE (sipp's pauses only)."""
        return self.menu_ms + self.prompt_ms + (DIGITS - 2) * self.gap_ms + self.listen_ms

    @property
    def hash_ms(self) -> int:
        """From the answer to the account's last digit ('#')."""
        return self.menu_ms + self.prompt_ms + (DIGITS - 2) * self.gap_ms

    def keys(self) -> dict[str, int]:
        return {
            "menu_ms": self.menu_ms,
            "prompt_ms": self.prompt_ms,
            "after_ms": (DIGITS - 2) * self.gap_ms + self.listen_ms,
        }


def speech_payload(pcap: Path = SPEECH_PCAP) -> bytes:
    """The RTP payloads of a PCMA capture (Ethernet/IPv4/UDP/RTP), concatenated."""
    data = pcap.read_bytes()
    if len(data) < 24 or struct.unpack_from("<I", data)[0] != 0xA1B2C3D4:
        raise ValueError(f"{pcap}: not a little-endian microsecond pcap")
    payload = bytearray()
    offset = 24
    while offset + 16 <= len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        payload += ip[header + 8 + 12 :]  # past IP, UDP and a 12-byte RTP header
    if not payload:
        raise ValueError(f"{pcap}: no RTP payload found")
    return bytes(payload)


def _pcap(packets: list[tuple[float, bytes]]) -> bytes:
    """A pcap of UDP datagrams 127.0.0.1:10000 -> 127.0.0.1:10000 (sipp rewrites both
    ports: the source to [media_port], the destination to rtpengine's from the SDP)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    loopback = bytes([127, 0, 0, 1])
    for at, rtp in packets:
        udp = struct.pack("!HHHH", 10000, 10000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, loopback, loopback
        )
        frame = bytes(12) + b"\x08\x00" + ip + udp
        seconds = int(at)
        out += struct.pack("<IIII", seconds, round((at - seconds) * 1e6), len(frame), len(frame))
        out += frame
    return bytes(out)


def digit_events(first_position: int, digits: str, gap_ms: int) -> list[tuple[float, bytes]]:
    """RFC 4733 events for `digits`, `gap_ms` apart, as (seconds, RTP packet): each
    digit 8 packets of 20 ms (marker on the first, the duration growing), then its end
    three times; every digit position its own RTP timestamp, one SSRC, one sequence."""
    packets = []
    seq = 20 * first_position
    steps = TONE_MS // 20
    for offset, digit in enumerate(digits):
        code = EVENT_CODES[digit]
        timestamp = 16000 * (first_position + offset + 1)
        start = offset * gap_ms / 1000
        for i in range(steps):
            marker = 0x80 if i == 0 else 0
            header = struct.pack(
                "!BBHII", 0x80, marker | TELEPHONE_EVENT_PT, seq, timestamp, DIGIT_SSRC
            )
            packets.append((start + i * 0.02, header + struct.pack("!BBH", code, 10, i * 160)))
            seq += 1
        for i in range(3):
            header = struct.pack("!BBHII", 0x80, TELEPHONE_EVENT_PT, seq, timestamp, DIGIT_SSRC)
            end = struct.pack("!BBH", code, 0x80 | 10, steps * 160)
            packets.append((start + steps * 0.02 + i * 0.005, header + end))
            seq += 1
    return packets


def stage(directory: Path, digits: str, gap_ms: int) -> Path:
    """The scenario and its media in `directory` (sipp finds the files next to the
    scenario); the scenario's path. The menu's digit is one capture, the account's
    digits another, `gap_ms` apart."""
    if len(digits) != DIGITS or any(d not in EVENT_CODES for d in digits):
        raise ValueError(f"need {DIGITS} digits of 0-9 * # A-D, got {digits!r}")
    if gap_ms < TONE_MS + 40:
        raise ValueError(f"digits {gap_ms} ms apart overlap their {TONE_MS} ms tones")
    directory.mkdir(parents=True, exist_ok=True)
    scenario = directory / SCENARIO.name
    shutil.copyfile(SCENARIO, scenario)
    (directory / "caller_audio.al").write_bytes(speech_payload())
    (directory / "dtmf_menu.pcap").write_bytes(_pcap(digit_events(1, digits[0], gap_ms)))
    (directory / "dtmf_account.pcap").write_bytes(_pcap(digit_events(2, digits[1:], gap_ms)))
    return scenario


def media_port() -> int:
    """A port for every call's audio (one socket of sipp's sends all of it) whose next
    port (RTCP) is free too."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports for the callers' media")


def start_callers(
    scenario: Path,
    target: str,
    *,
    workdir: Path,
    name: str,
    number: str,
    caller: str,
    calls: int,
    rate: float,
    pacing: Pacing,
    limit: int,
    timeout_s: int,
    extra: tuple[str, ...] = (),
) -> SippRun:
    return start_sipp(
        name,
        str(scenario),
        target,
        workdir=workdir,
        port=free_port(),
        media_port=media_port(),
        service=number,
        calls=calls,
        rate=rate,
        rate_period_ms=1000,
        limit=limit,
        timeout_s=timeout_s,
        keys={"caller": caller, **pacing.keys()},
        extra=["-mi", "127.0.0.1", *extra],
    )


def logged_calls(run: SippRun) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """(call-id -> rtpengine's address at the answer, call-ids that ended with BYE/200)."""
    answered: dict[str, tuple[str, int]] = {}
    done: set[str] = set()
    for line in run.log_lines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "CALL":
            answered[parts[1]] = (parts[2], int(parts[3]))
        elif len(parts) == 2 and parts[0] == "DONE":
            done.add(parts[1])
    return answered, done
