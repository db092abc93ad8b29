"""G.711 decoding as numpy lookup tables (ITU-T G.711; the values audioop gave).

One 512-entry table: index `code` for mu-law (PCMU), `256 + code` for A-law (PCMA), so a
segment that mixes the two laws is decoded in one gather.
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
