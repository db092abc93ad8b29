"""What a caller heard: the audio an RTP endpoint received, checked against prompts and tones.

Tests of the IVR assert audio content, not only packets: that the prompt a caller
should hear is in what reached them, that another prompt is not, that barge-in cut
a prompt short, that a DTMF digit was played in band. The demo's self-service caller
checks that it heard its balance the same way (testbed re-exports these names).

- G.711 (mu-law, A-law) as numpy lookup tables built from simulators' codec.
- `received_pcm` lays an endpoint's recorded payloads out by RTP timestamp (a lost
  packet is silence, so the audio keeps its timing).
- `find_prompt` slides the prompt over the received audio and scores each offset by
  normalised cross-correlation (FFT): 1.0 is the same waveform at any level.
- `played_duration_s` says how much of a prompt, from its start, is there.
- A Goertzel detector for DTMF digits and single tones.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators._dtmf import FREQUENCIES
from simulators._g711 import alaw_to_linear, ulaw_to_linear
from simulators._rtp import RtpEndpoint, RtpPacket

Pcm = npt.NDArray[np.int16]
Floats = npt.NDArray[np.float64]

RATE: Final = 8000
PCMU: Final = 0
PCMA: Final = 8

# A prompt is "present" when its normalised cross-correlation with the received audio
# reaches this. Calibrated (tests/testbed/test_audio.py, and the rtpengine test in
# tests/controller/test_prompt_audio.py): a rendered prompt played by rtpengine and
# decoded from PCMU scores above 0.99; a different prompt of the same espeak-ng voice at
# most about 0.3. A prompt whose tail is missing scores about the square root of the
# share of its energy that is there: half a prompt is not "present", but a prompt
# missing a short tail may be; whether a prompt played to its end is
# `played_duration_s`'s question.
PRESENT_SCORE: Final = 0.9

# How much of a prompt's start finds it (`played_duration_s`), longest first.
_HEADS_S: Final = (1.0, 0.5)
# Block size for following a prompt through the received audio (`played_duration_s`).
_BLOCK_S: Final = 0.05
# Blocks of the prompt quieter than this share of its loudest are pauses: they match
# anything, so they say nothing about where it stopped.
_VOICED_SHARE: Final = 0.01
# A block of the prompt matches the received audio at this score. Lower than
# PRESENT_SCORE: a block is short, so G.711 noise and a jittered packet weigh more.
_BLOCK_MATCH: Final = 0.8
# This many voiced blocks in a row that do not match: the prompt stopped there.
_MISSES_TO_STOP: Final = 3


# -- G.711 -------------------------------------------------------------------------------
# The laws are simulators' (the project's one definition), as lookup tables.
_ULAW: Final = np.array([ulaw_to_linear(code) for code in range(256)], dtype=np.int16)
_ALAW: Final = np.array([alaw_to_linear(code) for code in range(256)], dtype=np.int16)
_DECODERS: Final = {PCMU: _ULAW, PCMA: _ALAW}


def decode_ulaw(payload: bytes) -> Pcm:
    """G.711 mu-law bytes as 16-bit linear samples (the values audioop.ulaw2lin gave)."""
    return _ULAW[np.frombuffer(payload, dtype=np.uint8)]


def decode_alaw(payload: bytes) -> Pcm:
    """G.711 A-law bytes as 16-bit linear samples (the values audioop.alaw2lin gave)."""
    return _ALAW[np.frombuffer(payload, dtype=np.uint8)]


def _encoder(table: Pcm) -> npt.NDArray[np.uint8]:
    """For every 16-bit sample, the code whose decoded value is nearest. Test audio is
    sent with the least error the law allows; a phone's encoder (`linear_to_ulaw`)
    truncates, and near a segment's edge is up to half a step further off."""
    order = np.argsort(table, kind="stable")
    values = table[order].astype(np.int32)
    samples = np.arange(-32768, 32768, dtype=np.int32)
    right = np.clip(np.searchsorted(values, samples), 1, len(values) - 1)
    nearer_left = (samples - values[right - 1]) <= (values[right] - samples)
    return order[np.where(nearer_left, right - 1, right)].astype(np.uint8)


_ULAW_ENCODE: Final = _encoder(_ULAW)
_ALAW_ENCODE: Final = _encoder(_ALAW)


def encode_ulaw(pcm: Pcm) -> bytes:
    """16-bit samples as G.711 mu-law (nearest code), to send test audio."""
    return bytes(_ULAW_ENCODE[np.asarray(pcm, dtype=np.int32) + 32768])


def encode_alaw(pcm: Pcm) -> bytes:
    """16-bit samples as G.711 A-law (nearest code), to send test audio."""
    return bytes(_ALAW_ENCODE[np.asarray(pcm, dtype=np.int32) + 32768])


# -- what arrived ------------------------------------------------------------------------
def _signed(delta: int, bits: int) -> int:
    delta &= (1 << bits) - 1
    return delta - (1 << bits) if delta >> (bits - 1) else delta


def received_pcm(endpoint: RtpEndpoint, source: int | None = None) -> Pcm:
    """The G.711 audio `endpoint` received (it must record: `RtpEndpoint(record=True)`),
    from `source` (an SSRC) or from every source, as 8 kHz samples.

    Each packet goes where its RTP timestamp says, so a lost packet is silence and
    the rest keeps its timing. A stream that starts afresh (a new SSRC, or a timestamp
    that jumps, as when rtpengine starts playing another file: measured, the next
    sequence number with a timestamp 335 back) is placed by the arrival time of its
    first packet, after what came before it. Payloads other than PCMU and PCMA
    (telephone events, comfort noise) are left out.
    """
    packets = [p for p in endpoint.packets(source) if p.payload_type in _DECODERS]
    if not packets:
        return np.zeros(0, dtype=np.int16)
    t0 = packets[0].arrival
    last: dict[int, tuple[RtpPacket, int]] = {}  # per SSRC: previous packet, its position
    placed: list[tuple[int, RtpPacket]] = []
    for packet in packets:
        previous = last.get(packet.ssrc)
        position = round((packet.arrival - t0) * RATE)
        if previous is not None:
            before, before_at = previous
            step = _signed(packet.timestamp - before.timestamp, 32)
            newer = _signed(packet.seq - before.seq, 16) > 0
            elapsed = (packet.arrival - before.arrival) * RATE
            # A newer packet moves the timestamp forward, by about the time that passed
            # (more after a loss); a reordered older one back a little. Anything else is
            # a new stream.
            if (0 <= step < elapsed + RATE) if newer else (-RATE // 2 < step < 0):
                position = before_at + step
            else:
                position = max(position, before_at + len(before.payload))
        position = max(position, 0)
        last[packet.ssrc] = (packet, position)
        placed.append((position, packet))
    end = max(at + len(p.payload) for at, p in placed)
    pcm = np.zeros(end, dtype=np.int16)
    for at, packet in placed:
        pcm[at : at + len(packet.payload)] = _DECODERS[packet.payload_type][
            np.frombuffer(packet.payload, dtype=np.uint8)
        ]
    return pcm


def load_wav(path: Path | str) -> Pcm:
    """The samples of an 8 kHz mono 16-bit WAV (a rendered or recorded prompt)."""
    with wave.open(str(path), "rb") as w:
        fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
        if fmt != (RATE, 1, 2):
            raise ValueError(
                f"{path}: {fmt[0]} Hz, {fmt[1]} channel(s), {fmt[2] * 8}-bit;"
                f" expected {RATE} Hz mono 16-bit"
            )
        frames = w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.int16)


# -- prompts in the received audio -------------------------------------------------------
def _ncc(received: Floats, prompt: Floats) -> Floats:
    """Normalised cross-correlation of `prompt` at every offset of `received`, which is
    padded with silence so a prompt running past its end still gets a (lower) score."""
    m = len(prompt)
    x = np.concatenate([received, np.zeros(m)])
    n = 1 << int(len(x) + m - 1).bit_length()
    products = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(prompt, n)), n)
    lags = len(x) - m + 1
    energy_cumulative = np.concatenate([[0.0], np.cumsum(x * x)])
    window_energy = energy_cumulative[m : m + lags] - energy_cumulative[:lags]
    prompt_energy = float(prompt @ prompt)
    # A window far quieter than the prompt (silence, G.711's idle noise) scores 0,
    # not whatever its noise happens to correlate to.
    floor = prompt_energy * 1e-4
    scores = products[:lags] / np.sqrt(np.maximum(window_energy, floor) * prompt_energy)
    return np.asarray(scores, dtype=np.float64)


def find_prompt(pcm: Pcm, prompt_pcm: Pcm) -> tuple[float, float]:
    """Where `prompt_pcm` best matches `pcm`: (its start in seconds, the score).

    The score is the normalised cross-correlation, 1.0 for the same waveform at any
    level, about 0 for unrelated audio; `PRESENT_SCORE` says "it is there".
    """
    prompt = np.asarray(prompt_pcm, dtype=np.float64)
    received = np.asarray(pcm, dtype=np.float64)
    if not len(prompt) or not prompt.any():
        raise ValueError("the prompt is empty or silent")
    if not len(received):
        return 0.0, 0.0
    scores = _ncc(received, prompt)
    best = int(np.argmax(scores))
    return best / RATE, float(scores[best])


def prompt_present(pcm: Pcm, prompt_pcm: Pcm, threshold: float = PRESENT_SCORE) -> bool:
    """Whether the whole of `prompt_pcm` (give or take a fifth of its energy) is in `pcm`."""
    return find_prompt(pcm, prompt_pcm)[1] >= threshold


def _head(prompt: Pcm, seconds: float) -> tuple[int, Pcm]:
    """The first `seconds` of `prompt` from where it is first voiced, and that start."""
    level = np.abs(prompt.astype(np.int32))
    voiced = np.flatnonzero(level > level.max() * 0.05)
    start = int(voiced[0]) if len(voiced) else 0
    return start, prompt[start : start + int(seconds * RATE)]


def _find_start(pcm: Pcm, prompt: Pcm) -> int | None:
    """Where `prompt[0]` falls in `pcm`, found by the prompt's first voiced second, or
    its first half second when less was heard; None when neither is there. Shorter
    heads match unrelated speech too well (0.67 for half a second, 0.82 for a quarter)."""
    for seconds in _HEADS_S:
        start, head = _head(prompt, seconds)
        offset_s, score = find_prompt(pcm, head)
        if score >= PRESENT_SCORE:
            return round(offset_s * RATE) - start
    return None


def played_duration_s(pcm: Pcm, prompt_pcm: Pcm) -> float:
    """How much of `prompt_pcm`, from its start, `pcm` holds, in seconds (to 50 ms).

    0.0 when its start is not there; its whole duration when all of it is. Barge-in
    shows as a value between: the caller heard the prompt's start and not its end.
    The prompt is found by its first voiced second, then followed block by block;
    it stopped where its voiced blocks stop matching (pauses between words match
    anything and are skipped).
    """
    prompt = np.asarray(prompt_pcm, dtype=np.int16)
    origin = _find_start(pcm, prompt)
    if origin is None:
        return 0.0
    received = np.asarray(pcm, dtype=np.float64)
    block = int(_BLOCK_S * RATE)
    prompt_f = prompt.astype(np.float64)
    energies = [
        float(prompt_f[i : i + block] @ prompt_f[i : i + block])
        for i in range(0, len(prompt), block)
    ]
    loudest = max(energies)
    matched_until = 0
    misses = 0
    for index, energy in enumerate(energies):
        i = index * block
        if energy < loudest * _VOICED_SHARE:
            continue
        mine = prompt_f[i : i + block]
        lo = origin + i
        theirs = np.zeros(len(mine))
        if lo + len(mine) > 0 and lo < len(received):
            part = received[max(lo, 0) : lo + len(mine)]
            theirs[max(-lo, 0) : max(-lo, 0) + len(part)] = part
        denominator = np.sqrt(energy * float(theirs @ theirs))
        if denominator > 0 and float(mine @ theirs) / denominator >= _BLOCK_MATCH:
            matched_until = i + len(mine)
            misses = 0
            continue
        misses += 1
        if misses >= _MISSES_TO_STOP:
            return matched_until / RATE
    if misses == 0:
        return len(prompt) / RATE
    return matched_until / RATE


# -- tones -------------------------------------------------------------------------------
# The keypad's two groups of frequencies, and the key of each pair (simulators' table).
_LOW_GROUP: Final = tuple(sorted({low for low, _ in FREQUENCIES.values()}))
_HIGH_GROUP: Final = tuple(sorted({high for _, high in FREQUENCIES.values()}))
_KEY_OF: Final = {pair: key for key, pair in FREQUENCIES.items()}
# 205 samples at 8 kHz: the classic Goertzel block, whose bins fall near all eight
# DTMF frequencies; 25.6 ms, so a 40 ms tone fills at least one. Half-overlapping.
_DTMF_BLOCK: Final = 205
_DTMF_HOP: Final = 102


def _blocks(pcm: Pcm, size: int, hop: int) -> Floats:
    samples = np.asarray(pcm, dtype=np.float64)
    if len(samples) < size:
        return np.zeros((0, size))
    count = 1 + (len(samples) - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    selected: Floats = samples[index]
    return selected


def goertzel_power(blocks: Floats, freq: float, rate: int = RATE) -> Floats:
    """The Goertzel filter's power at `freq` for each row of `blocks` (one block per row),
    as a share of the row's energy: about 1.0 for a pure tone at `freq`, 0.5 for each
    tone of an equal-level pair, near 0 for a tone elsewhere."""
    rows: Floats = np.atleast_2d(np.asarray(blocks, dtype=np.float64))
    n = rows.shape[1]
    coefficient = 2.0 * np.cos(2.0 * np.pi * freq / rate)
    s1 = np.zeros(rows.shape[0])
    s2 = np.zeros(rows.shape[0])
    for k in range(n):  # the recurrence, run for all blocks at once
        s0 = rows[:, k] + coefficient * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
    energy = np.einsum("ij,ij->i", rows, rows)
    return np.asarray(2.0 * power / (n * np.maximum(energy, 1e-9)), dtype=np.float64)


def tone_fraction(pcm: Pcm, freq: float, rate: int = RATE) -> float:
    """The share of `pcm`'s energy at `freq` (20 ms blocks; silent blocks left out):
    a 440 Hz prompt tone gives about 1.0 at 440 and about 0 at 1000."""
    size = rate // 50
    blocks = _blocks(pcm, size, size)
    energy = np.einsum("ij,ij->i", blocks, blocks)
    loud = energy > (32768.0 * 0.001) ** 2 * size  # above -60 dBFS
    if not loud.any():
        return 0.0
    shares = goertzel_power(blocks[loud], freq, rate)
    return float(np.sum(shares * energy[loud]) / np.sum(energy[loud]))


def detect_dtmf(pcm: Pcm, rate: int = RATE) -> list[tuple[float, str]]:
    """The DTMF digits in `pcm`, each as (its start in seconds, the key).

    A block holds a digit when one low and one high DTMF tone carry most of its
    energy (speech and music spread theirs), each clearly above the other tones of its
    group, within 10 dB of each other, above -50 dBFS. A key press is two blocks in a
    row with the same digit; a block without one ends it.
    """
    if rate != RATE:
        raise ValueError(f"detect_dtmf works on {RATE} Hz audio")
    blocks = _blocks(pcm, _DTMF_BLOCK, _DTMF_HOP)
    if not len(blocks):
        return []
    low = np.stack([goertzel_power(blocks, f) for f in _LOW_GROUP], axis=1)
    high = np.stack([goertzel_power(blocks, f) for f in _HIGH_GROUP], axis=1)
    rms = np.sqrt(np.einsum("ij,ij->i", blocks, blocks) / _DTMF_BLOCK)
    digits: list[tuple[float, str]] = []
    previous: str | None = None
    reported: str | None = None
    for i in range(len(blocks)):
        key = _block_key(low[i], high[i], float(rms[i]))
        if key is not None and key == previous and key != reported:
            digits.append(((i - 1) * _DTMF_HOP / rate, key))
            reported = key
        if key is None:
            reported = None
        previous = key
    return digits


def _block_key(low: Floats, high: Floats, rms: float) -> str | None:
    if rms < 32768 * 10 ** (-50 / 20):
        return None
    row, column = int(np.argmax(low)), int(np.argmax(high))
    strongest_low, strongest_high = float(low[row]), float(high[column])
    if strongest_low + strongest_high < 0.6:
        return None
    if not 0.1 <= strongest_low / max(strongest_high, 1e-9) <= 10:
        return None
    others_low = np.delete(low, row).max()
    others_high = np.delete(high, column).max()
    if others_low * 4 > strongest_low or others_high * 4 > strongest_high:
        return None
    return _KEY_OF[(_LOW_GROUP[row], _HIGH_GROUP[column])]


# -- who hears which tone ------------------------------------------------------------------
# Blocks of 40 ms with a Hann window: 25 Hz bins whose main lobe (two bins either side)
# keeps a tone 60 Hz away (e.g. a mixing product of the others) out of a tone's bin,
# and sidelobes that fall fast, so a tone at -10 dBFS leaks nothing measurable 500 Hz
# away. 40 ms is two packets: a short window still holds many blocks.
LEVEL_BLOCK: Final = 320


def window_runs(endpoint: RtpEndpoint, since: float, until: float) -> list[Pcm]:
    """The G.711 audio that reached `endpoint` (it must record) with an arrival time in
    [since, until) (time.monotonic()), as runs of unbroken audio: each run is one
    source's (SSRC) packets in sequence order, each following on from the one before
    (the next sequence number, the timestamp moved on by its samples). A lost packet,
    a jump in timestamps or a new source starts a new run, so an analysis that keeps
    within runs never sees a joint that is not in the audio. Payloads other than PCMU
    and PCMA are left out (telephone events end a run)."""
    chosen = [p for p in endpoint.packets() if since <= p.arrival < until]
    by_source: dict[int, list[RtpPacket]] = {}
    for packet in chosen:
        by_source.setdefault(packet.ssrc, []).append(packet)
    runs: list[Pcm] = []
    for packets in by_source.values():
        first = packets[0].seq
        run: list[Pcm] = []
        previous: RtpPacket | None = None
        for p in sorted(packets, key=lambda p: _signed(p.seq - first, 16)):
            follows = (
                previous is not None
                and _signed(p.seq - previous.seq, 16) == 1
                and _signed(p.timestamp - previous.timestamp, 32) == len(previous.payload)
            )
            if run and not follows:
                runs.append(np.concatenate(run))
                run = []
            if p.payload_type in _DECODERS:
                run.append(_DECODERS[p.payload_type][np.frombuffer(p.payload, dtype=np.uint8)])
                previous = p
            else:
                previous = None
        if run:
            runs.append(np.concatenate(run))
    return runs


def window_pcm(endpoint: RtpEndpoint, since: float, until: float) -> Pcm:
    """`window_runs` one after another: for an analysis that does not mind the joints."""
    runs = window_runs(endpoint, since, until)
    return np.concatenate(runs) if runs else np.zeros(0, dtype=np.int16)


def _spectra(pcm: Pcm, block: int) -> Floats:
    """Per block: the level in dBFS that a sine centred on each rfft bin would show
    (a full-scale sine is 0 dBFS), through a Hann window."""
    blocks = _blocks(pcm, block, block) / 32768.0
    if not len(blocks):
        return np.zeros((0, block // 2 + 1))
    window = np.hanning(block)
    amplitude = 2.0 * np.abs(np.fft.rfft(blocks * window, axis=1)) / window.sum()
    levels: Floats = 20.0 * np.log10(np.maximum(amplitude, 1e-9))
    return levels


def tone_levels_dbfs(pcm: Pcm, freq: float, *, block: int = LEVEL_BLOCK) -> Floats:
    """The level of a sine at `freq` in each block of `pcm`, in dBFS: about -10 for a
    tone sent at -10 dBFS through G.711, whatever else is mixed with it; G.711's own
    noise alone shows at about -70 and below. The strongest bin within one bin of
    `freq`, so a tone between bins loses at most Hann's 1.4 dB."""
    spectra = _spectra(pcm, block)
    if not len(spectra):
        return np.zeros(0)
    centre = freq * block / RATE
    lo, hi = int(np.floor(centre)), min(int(np.ceil(centre)), spectra.shape[1] - 1)
    found: Floats = spectra[:, lo : hi + 1].max(axis=1)
    return found


def noise_floor_dbfs(pcm: Pcm, *, block: int = LEVEL_BLOCK) -> Floats:
    """The median bin level of each block of `pcm` (dBFS, as `tone_levels_dbfs`): the
    floor a tone is compared with. A few tones and their mixing products fill a few
    bins; the median is the noise between them."""
    spectra = _spectra(pcm, block)
    if not len(spectra):
        return np.zeros(0)
    floor: Floats = np.median(spectra[:, 1:], axis=1)
    return floor
