"""G.711 (ITU-T) mu-law and A-law, one sample at a time: the codes a phone sends.

The project's one definition of both laws. The test parties encode their DTMF tones
with it (`simulators/_dtmf.py`); testbed's audio analysis (testbed/_audio.py) builds
its numpy lookup tables from the decoders. Python 3.13 has no audioop.
"""

from __future__ import annotations

ULAW_SILENCE = 0xFF  # the mu-law code of a zero sample
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635  # the largest magnitude that stays below the top code after the bias


def linear_to_ulaw(sample: int) -> int:
    """G.711 mu-law code of a 16-bit linear sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), _ULAW_CLIP) + _ULAW_BIAS
    exponent = max(0, (magnitude >> 7).bit_length() - 1)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_to_linear(code: int) -> int:
    """The 16-bit linear sample of a G.711 mu-law code."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code >> 4) & 0x07)
    return _ULAW_BIAS - magnitude if code & 0x80 else magnitude - _ULAW_BIAS


def alaw_to_linear(code: int) -> int:
    """The 16-bit linear sample of a G.711 A-law code."""
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    # Segments 0 and 1 share one step; each segment after doubles it.
    magnitude = ((mantissa << 4) + (0x108 if exponent else 8)) << max(exponent - 1, 0)
    return magnitude if code & 0x80 else -magnitude
