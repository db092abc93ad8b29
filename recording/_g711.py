"""G.711 as numpy lookup tables (ITU-T G.711; the values audioop gave): the product's
one home of the laws (`recording.g711_decode`, `recording.g711_encode`).

One 512-entry decode table: index `code` for mu-law (PCMU), `256 + code` for A-law
(PCMA), so a segment that mixes the two laws is decoded in one gather; the encoder is a
131,072-entry table built the same way (a 16-bit sample, per law).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

PCMU: Final = 0
PCMA: Final = 8


def _ulaw() -> npt.NDArray[np.int32]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude)


def _alaw() -> npt.NDArray[np.int32]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    # A-law's sign bit set is a positive sample (the opposite of mu-law).
    return np.where(code & 0x80, magnitude, -magnitude)


# int16 values; as int16 so a gather gives samples without a cast.
DECODE: Final[npt.NDArray[np.int16]] = np.concatenate([_ulaw(), _alaw()]).astype(np.int16)


def _nearest_codes(table: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """For every 16-bit sample (index `sample + 32768`), the code whose decoded value is
    nearest: encoding with the least error the law allows (a truncating encoder is up to
    half a step further off near a segment's edge)."""
    order = np.argsort(table, kind="stable")
    values = table[order].astype(np.int32)
    samples = np.arange(-32768, 32768, dtype=np.int32)
    right = np.clip(np.searchsorted(values, samples), 1, len(values) - 1)
    nearer_left = (samples - values[right - 1]) <= (values[right] - samples)
    codes = order[np.where(nearer_left, right - 1, right)].astype(np.uint8)
    # mu-law has two codes of 0 (0x7F and 0xFF); silence is conventionally 0xFF.
    zeros = np.flatnonzero(table == 0)
    if zeros.size:
        codes[32768] = zeros.max()
    return codes


# uint8 codes: index `sample + 32768` for mu-law, `65536 + sample + 32768` for A-law (the
# same law offset as DECODE's, times 256), so a block that mixes laws is one gather.
ENCODE: Final[npt.NDArray[np.uint8]] = np.concatenate(
    [_nearest_codes(DECODE[:256]), _nearest_codes(DECODE[256:])]
)


def _law_offsets(payload_type: int | npt.ArrayLike) -> npt.NDArray[np.int32]:
    """0 for PCMU, 1 for PCMA, per element; any other payload type is an error."""
    types = np.asarray(payload_type, dtype=np.int32)
    is_alaw = types == PCMA
    if not (is_alaw | (types == PCMU)).all():  # not np.isin: it costs 10 times more
        bad = sorted({int(t) for t in np.atleast_1d(types) if t not in (PCMU, PCMA)})
        raise ValueError(f"not a G.711 payload type (0 PCMU, 8 PCMA): {bad}")
    offsets: npt.NDArray[np.int32] = is_alaw.astype(np.int32)
    return offsets


def g711_decode(
    payload: bytes | npt.NDArray[np.uint8], payload_type: int | npt.ArrayLike
) -> npt.NDArray[np.int16]:
    """G.711 codes as 16-bit linear samples, in the codes' shape.

    `payload_type` is 0 (PCMU) or 8 (PCMA), or an array of them that broadcasts
    against the codes (e.g. one per row of a (rows, 160) block of frames).
    """
    codes = np.frombuffer(payload, dtype=np.uint8) if isinstance(payload, bytes) else payload
    offsets = _law_offsets(payload_type)
    decoded: npt.NDArray[np.int16] = DECODE[codes.astype(np.int32) + 256 * offsets]
    return decoded


def g711_encode(pcm: npt.ArrayLike, payload_type: int | npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Linear samples as G.711 codes (nearest code), in the samples' shape; `.tobytes()`
    gives the payload. Samples beyond 16 bits (a sum of several) are saturated first.

    `payload_type` as for `g711_decode`.
    """
    samples = np.clip(np.asarray(pcm, dtype=np.int32), -32768, 32767)
    offsets = _law_offsets(payload_type)
    encoded: npt.NDArray[np.uint8] = ENCODE[samples + 32768 + 65536 * offsets]
    return encoded
