"""Who hears whom, by tone: each party sends its own sine, and what reached each party is
analysed for every party's frequency (supervisor monitoring's tests and benchmark).

Each party (`ToneParty`) is a sipp dialog with an RTP endpoint that records what it
receives and a `TonePlayer` that sends the party's tone at `TONE_DBFS` (and keys in
RFC 4733 digits in the same stream) to wherever its SDP peer says now: the last of the
INVITE's, the 200's and the re-INVITEs' media lines in its sipp log.

`capture` takes the same stretch of time from every party (waiting until each has
received that much, never sleeping), and `assert_hearing` checks, for every party,
that it hears the tones it should and clearly does not hear the others:

- hears f: in at least `HEARD_SHARE` of the 40 ms blocks the level at f is at least
  `HEARD_DBFS`, 10 dB under what was sent (G.711 and summing cost well under 1 dB);
- does not hear f: in at least `SILENT_SHARE` of the blocks the level at f is below
  `SILENT_DBFS` (35 dB under what was sent), and in none does it reach `NEVER_DBFS`
  (20 dB under). Calibrated on G.711 (tests/testbed/test_hearing.py): a party's own
  noise, the harmonics G.711 makes of a pure tone and the mixing products of up to
  three tones stay under -52 dBFS in the bins of the other tones; a frame missing from
  a mix (a late packet at a loaded mixer) splatters up to about -43 dBFS into one or
  two blocks, which the share allows and the ceiling bounds. A tone leaking through
  30 dB down in most blocks is caught.

Blocks never straddle a joint in the received audio (`window_runs`: a lost packet, a
new source), whose splatter would otherwise look like every tone at once.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simulators import (
    RtpEndpoint,
    SippRun,
    noise_floor_dbfs,
    scenario_path,
    tone_levels_dbfs,
    window_runs,
)
from testbed._acd_path import AcdPath, carrier_call
from testbed._controller import media_of
from testbed._parties import track
from testbed._sip import start_phone
from testbed._talker import TonePlayer
from testbed._waiting import wait_until

# Each party's tone, sent at this level: loud enough to stand 50 dB over G.711's noise,
# and three of them summed stay under full scale (3 x 0.316), so a mixer never clips.
TONE_DBFS = -10.0
HEARD_DBFS = -20.0
SILENT_DBFS = -45.0
NEVER_DBFS = -30.0
# Shares of blocks: a heard tone may miss a few (a frame late at the mixer), an unheard
# one may splatter into a few.
HEARD_SHARE = 0.7
SILENT_SHARE = 0.75
# A window shorter than this says little (15 blocks of 40 ms).
WINDOW_S = 0.6
# Of the packets a window should hold, at least this share must have arrived.
MIN_PACKET_SHARE = 0.7

# The media lines a party's sipp scenario logs, any of which moves its peer.
MEDIA_LINES = ("CALL ", "ANSWERED ", "REINVITE ")


class LatestMedia:
    """Where a sipp party's peer wants its media now: the newest media= line of its log
    (re-read at most every 50 ms: a TonePlayer asks every 20 ms)."""

    def __init__(self, run: SippRun, prefixes: Sequence[str] = MEDIA_LINES) -> None:
        self.run, self.prefixes = run, tuple(prefixes)
        self._cached: tuple[str, int] | None = None
        self._read_at = 0.0

    def now(self) -> tuple[str, int] | None:
        if time.monotonic() - self._read_at > 0.05:
            lines = [ln for ln in self.run.log_lines() if ln.startswith(self.prefixes)]
            self._read_at = time.monotonic()
            if lines:
                self._cached = media_of(lines[-1])
        return self._cached

    def __call__(self) -> tuple[str, int]:
        found = self.now()
        assert found is not None, f"{self.run.name}: no media line in its log yet"
        return found


@dataclass
class ToneParty:
    """A party of a call that sends a tone and records what it hears."""

    name: str
    freq: float
    run: SippRun
    rtp: RtpEndpoint
    sip: tuple[str, int]  # where its sipp listens (for `hang_up`)
    call_id: str = ""  # its dialog's Call-ID; a phone learns it when rung
    player: TonePlayer | None = field(default=None, repr=False)

    def talk(self, timeout: float = 10.0) -> ToneParty:
        """Start sending the tone, once the party has a peer (its first media line)."""
        media = LatestMedia(self.run)
        wait_until(lambda: media.now() is not None, timeout=timeout, what=f"{self.name} has a peer")
        if not self.call_id:
            (rung,) = self.run.wait_for_log("CALL ", timeout=timeout)[:1]
            self.call_id = rung.split(" callid=", 1)[1].split()[0]
        self.player = TonePlayer(self.rtp, media, self.freq, level=10 ** (TONE_DBFS / 20))
        return self

    def press(self, digits: str) -> None:
        """Key in `digits` as RFC 4733 events in its RTP stream; returns once they are out."""
        assert self.player is not None, f"{self.name} is not talking"
        self.player.press(digits)
        wait_until(
            lambda: not self.player.keying if self.player else True,
            timeout=5,
            what=f"{self.name} keyed in {digits}",
        )

    def hang_up(self) -> None:
        """A MESSAGE in its dialog: its scenario's "hang up now" (tone_phone.xml,
        desk_caller.xml), so the test never waits on a timer for the party to act."""
        assert self.call_id, f"{self.name} is on no call"
        ip, port = self.sip
        message = (
            f"MESSAGE sip:party@{ip}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
            f"From: <sip:test@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:party@{ip}>\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), (ip, port))

    def invites(self) -> int:
        """How many times it was rung (a re-dial would make two)."""
        return sum(1 for ln in self.run.log_lines() if ln.startswith("CALL "))

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player = None


@dataclass(frozen=True)
class Heard:
    """What one party received in a window: per tone, the share of its 40 ms blocks at
    or above `HEARD_DBFS` and below `SILENT_DBFS`, the loudest block, and the party's
    noise floor (the median bin level)."""

    party: str
    packets: int
    expected_packets: int
    share: dict[float, float]
    quiet: dict[float, float]
    loudest: dict[float, float]
    floor_dbfs: float

    def hears(self, freq: float) -> bool:
        return self.share[freq] >= HEARD_SHARE

    def silent(self, freq: float) -> bool:
        return self.quiet[freq] >= SILENT_SHARE and self.loudest[freq] < NEVER_DBFS

    def describe(self) -> str:
        tones = ", ".join(
            f"{f:g} Hz: {self.share[f]:.0%} heard, {self.quiet[f]:.0%} silent,"
            f" loudest {self.loudest[f]:.1f} dBFS"
            for f in sorted(self.share)
        )
        return (
            f"{self.party} ({self.packets}/{self.expected_packets} packets, floor"
            f" {self.floor_dbfs:.1f} dBFS): {tones}"
        )


def analyse(
    party: str, runs: Sequence[npt.NDArray[np.int16]], tones: Iterable[float], seconds: float
) -> Heard:
    """`runs` (window_runs) analysed for each of `tones`, block by block within runs."""
    share: dict[float, float] = {}
    quiet: dict[float, float] = {}
    loudest: dict[float, float] = {}
    for freq in tones:
        parts = [tone_levels_dbfs(run, freq) for run in runs]
        levels = np.concatenate(parts) if parts else np.zeros(0)
        share[freq] = float(np.mean(levels >= HEARD_DBFS)) if len(levels) else 0.0
        quiet[freq] = float(np.mean(levels < SILENT_DBFS)) if len(levels) else 1.0
        loudest[freq] = float(levels.max()) if len(levels) else -np.inf
    floors = [noise_floor_dbfs(run) for run in runs]
    floor = np.concatenate(floors) if floors else np.zeros(0)
    return Heard(
        party,
        sum(len(run) for run in runs) // 160,
        round(seconds * 50),
        share,
        quiet,
        loudest,
        float(np.median(floor)) if len(floor) else -np.inf,
    )


def capture(
    parties: Sequence[ToneParty], seconds: float = WINDOW_S, timeout: float = 5.0
) -> dict[str, Heard]:
    """The next `seconds` of what every party receives, analysed for every party's tone:
    waits (with a deadline) until each has received a packet after the window's end."""
    start = time.monotonic()
    end = start + seconds

    def past_end(party: ToneParty) -> bool:
        packets = party.rtp.packets()
        return bool(packets) and packets[-1].arrival >= end

    wait_until(
        lambda: time.monotonic() >= end and all(past_end(p) for p in parties),
        timeout=seconds + timeout,
        what="audio at every party past the window: "
        + ", ".join(p.name for p in parties if not past_end(p)),
    )
    tones = [p.freq for p in parties]
    return {
        p.name: analyse(p.name, window_runs(p.rtp, start, end), tones, seconds) for p in parties
    }


def assert_hearing(
    heard: Mapping[str, Heard],
    expected: Mapping[str, Iterable[float]],
    *,
    what: str = "",
) -> None:
    """Every party in `expected` hears exactly the tones it lists: each of them, and none
    of the other tones analysed. All failures are reported together, with the levels."""
    problems: list[str] = []
    for party, tones in expected.items():
        report = heard[party]
        wanted = set(tones)
        if report.packets < report.expected_packets * MIN_PACKET_SHARE:
            problems.append(f"{party} received too little audio")
        for freq in sorted(report.share):
            if freq in wanted and not report.hears(freq):
                problems.append(f"{party} does not hear {freq:g} Hz")
            if freq not in wanted and not report.silent(freq):
                problems.append(f"{party} hears {freq:g} Hz")
    if problems:
        details = "\n  ".join(heard[p].describe() for p in expected)
        raise AssertionError(f"{what}: {'; '.join(problems)}\n  {details}")


# The caller that hears through re-INVITEs and hangs up when told (its REINVITE lines
# name the direction too).
TONE_CALLER = "desk_caller"
# Agents' and supervisors' phones: answer, take re-INVITEs, hang up when told.
TONE_PHONE = "tone_phone"


def tone_phone(
    path: AcdPath, workdir: Path, user: str, freq: float, *, answer_after_ms: int = 100
) -> ToneParty:
    """`user`'s phone (sipp, tone_phone.xml) registered at the stack: it answers when
    rung; `talk()` once rung starts its tone. Stopped at the end of the test."""
    rtp = RtpEndpoint(record=True)
    path.on_close(rtp.close)
    phone = start_phone(
        path.stack,
        user,
        workdir=workdir,
        scenario=TONE_PHONE,
        answer_after_ms=answer_after_ms,
        rtp_port=rtp.port,
    )
    track(phone.run)
    party = ToneParty(user, freq, phone.run, rtp, ("127.0.0.1", phone.sip_port))
    path.on_close(party.stop)
    return party


def tone_caller(path: AcdPath, workdir: Path, number: str, freq: float) -> ToneParty:
    """A carrier call to `number` (desk_caller.xml) that sends `freq` once answered
    (`talk()`) and records what it hears."""
    caller = carrier_call(path, workdir, number, scenario=scenario_path(TONE_CALLER), record=True)
    party = ToneParty(
        "caller", freq, caller.run, caller.rtp, ("127.0.0.1", caller.port), caller.call_id
    )
    path.on_close(party.stop)
    return party
