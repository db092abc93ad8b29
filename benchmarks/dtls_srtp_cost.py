"""rtpengine's CPU per packet relaying DTLS-SRTP (a browser's leg) against plain RTP.

Two rtpengine instances in a row, as a browser call crosses one: a sender's plain RTP
enters A, which turns it into DTLS-SRTP toward B (A's offer side is what a browser would
get), B turns it back into plain RTP toward a receiver. The same topology with plain
RTP/AVP between A and B is the baseline. Same calls, same packet rate, same duration;
the signalling is ng only (offer and answer through both, as Kamailio does it). CPU is
each rtpengine's /proc/PID/task/*/schedstat over the sending window, divided by the
packets it relayed.

    .venv/bin/python -m benchmarks.dtls_srtp_cost                  # 20 calls x 50 pps x 20 s
    .venv/bin/python -m benchmarks.dtls_srtp_cost --calls 40 --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import machine_facts, print_facts
from rtpengine import NgClient
from testbed import Rtpengine, running_rtpengine, wait_until

# Chosen from the first runs (BENCHMARKS.md, "DTLS-SRTP in rtpengine"): relaying a packet
# as DTLS-SRTP (encrypt at A, decrypt at B) may cost at most this many times plain RTP.
MAX_SRTP_OVER_PLAIN = 2.0

PLAIN_SDP = (
    "v=0\r\no=- {sid} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)
ANCHOR = {"replace": ["origin", "session-connection"], "ICE": "remove"}


def _cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def _media(sdp: str) -> int:
    found = re.search(r"^m=audio (\d+) ", sdp, re.M)
    assert found, sdp
    return int(found.group(1))


@dataclass
class Leg:
    sender: socket.socket
    receiver: socket.socket
    target: int  # A's port the sender sends to


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _set_up(a: NgClient, b: NgClient, srtp: bool) -> Leg:
    """One call through A then B: sender -> A -> (DTLS-SRTP or RTP) -> B -> receiver."""
    sender, receiver = _udp(), _udp()
    call = secrets.token_hex(8)
    middle = {"transport-protocol": "UDP/TLS/RTP/SAVP", "DTLS": "passive"} if srtp else {}
    plain = {"transport-protocol": "RTP/AVP", "DTLS": "off"} if srtp else {}
    sdp = PLAIN_SDP.format(sid=1, port=sender.getsockname()[1])
    # Offer: sender -> A (out: toward B) -> B (out: toward the receiver).
    toward_b = a.request(
        "offer", **{"call-id": call, "from-tag": "s", "sdp": sdp}, **ANCHOR, **middle
    )
    toward_r = b.request(
        "offer", **{"call-id": call, "from-tag": "a", "sdp": toward_b["sdp"]}, **ANCHOR, **plain
    )
    # Answer: receiver -> B (out: toward A) -> A (out: toward the sender).
    answer = PLAIN_SDP.format(sid=2, port=receiver.getsockname()[1])
    toward_a = b.request(
        "answer",
        **{"call-id": call, "from-tag": "a", "to-tag": "r", "sdp": answer},
        **ANCHOR,
        **({"DTLS": "active"} if srtp else {}),
    )
    toward_s = a.request(
        "answer",
        **{"call-id": call, "from-tag": "s", "to-tag": "b", "sdp": toward_a["sdp"]},
        **ANCHOR,
    )
    if srtp:
        assert "UDP/TLS/RTP/SAVP" in toward_b["sdp"] and "a=fingerprint" in toward_b["sdp"]
        assert "RTP/AVP" in toward_r["sdp"] and "a=fingerprint" not in toward_r["sdp"]
    return Leg(sender, receiver, _media(toward_s["sdp"]))


def _packet(seq: int, ssrc: int) -> bytes:
    header = bytes([0x80, 0x00]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
    return header + ssrc.to_bytes(4, "big") + b"\xff" * 160


def _drain(legs: list[Leg]) -> int:
    got = 0
    for leg in legs:
        while True:
            try:
                leg.receiver.recv(2048)
            except BlockingIOError:
                break
            got += 1
    return got


def _send(legs: list[Leg], pps: int, seconds: float, seq0: int) -> tuple[int, int]:
    """Every leg sends `pps` packets a second for `seconds`; (sent, received)."""
    sent = received = 0
    period = 1.0 / pps
    start = time.monotonic()
    seq = seq0
    while (now := time.monotonic()) - start < seconds:
        for i, leg in enumerate(legs):
            leg.sender.sendto(_packet(seq & 0xFFFF, 1000 + i), ("127.0.0.1", leg.target))
        sent += len(legs)
        seq += 1
        received += _drain(legs)
        delay = start + (seq - seq0) * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        del now
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and received < sent:
        received += _drain(legs)
        time.sleep(0.01)
    return sent, received


@contextlib.contextmanager
def _engines(workdir: Path) -> Iterator[tuple[Rtpengine, Rtpengine]]:
    base = 20000 + secrets.randbelow(30) * 400
    with (
        running_rtpengine(workdir / "a", port_base=base) as a,
        running_rtpengine(workdir / "b", port_base=base + 200) as b,
    ):
        yield a, b


def _run(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    srtp = mode == "dtls-srtp"
    with _engines(workdir / mode) as (a, b):
        ng_a, ng_b = (NgClient("127.0.0.1", e.ng_port, timeout=2.0) for e in (a, b))
        legs = [_set_up(ng_a, ng_b, srtp) for _ in range(args.calls)]
        # Warm-up: latching, and for DTLS the handshakes between A and B.
        wait_until(
            lambda: _send(legs, 50, 0.2, 0)[1] >= len(legs) * 5,
            timeout=15,
            what=f"{mode}: packets through both rtpengines",
        )
        before = {name: _cpu_ns(e.process.pid) for name, e in (("A", a), ("B", b))}
        sent, received = _send(legs, args.pps, args.seconds, 100)
        used = {
            name: (_cpu_ns(e.process.pid) - before[name]) / 1e3 for name, e in (("A", a), ("B", b))
        }
        for leg in legs:
            leg.sender.close()
            leg.receiver.close()
        ng_a.close()
        ng_b.close()
    return {
        "sent": sent,
        "received": received,
        "A_us": used["A"] / max(1, received),
        "B_us": used["B"] / max(1, received),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--pps", type=int, default=50, help="packets a second per call")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    print_facts(machine_facts())
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-dtls-") as tmp:
        for mode in ("plain", "dtls-srtp"):
            results[mode] = r = _run(mode, args, Path(tmp))
            print(
                f"{mode:<10} {r['received']:>7.0f}/{r['sent']:.0f} packets  "
                f"A {r['A_us']:5.1f} µs/packet  B {r['B_us']:5.1f} µs/packet  "
                f"(both {r['A_us'] + r['B_us']:5.1f})"
            )
    plain, srtp = results["plain"], results["dtls-srtp"]
    ratio = (srtp["A_us"] + srtp["B_us"]) / max(1e-9, plain["A_us"] + plain["B_us"])
    lost = [m for m, r in results.items() if r["received"] < 0.99 * r["sent"]]
    print(f"DTLS-SRTP/plain CPU per packet (A+B): {ratio:.2f}x (target <= {MAX_SRTP_OVER_PLAIN}x)")
    misses = [f"{m} lost over 1 % of packets" for m in lost]
    if ratio > MAX_SRTP_OVER_PLAIN:
        misses.append(f"{ratio:.2f}x")
    print("verdict: " + ("PASS" if not misses else "MISS (" + "; ".join(misses) + ")"))
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
