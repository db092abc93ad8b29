"""The mixing of one tick, for every conference at once.

Every slot of the mixer has a row in a (slots + 1, 160) block of decoded frames; the
extra last row is silence. What a listener hears (an output) or a recording channel
takes is a row of an index matrix: the rows of the slots it sums, padded with the
silent row to the widest. One gather and one sum then mix all outputs of all
conferences, whatever the number of calls: the work of a tick is a few numpy calls,
not a Python loop per listener.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

FRAME: Final = 160  # samples (and G.711 bytes) in 20 ms at 8 kHz

Index = npt.NDArray[np.intp]


def source_index(sources: Sequence[Sequence[int]], silent_row: int) -> Index:
    """One row per output: the slot rows it sums, padded with `silent_row`.

    Shape (outputs, widest), at least one column so an output of nothing is a row of
    silence."""
    width = max((len(s) for s in sources), default=0) or 1
    index = np.full((len(sources), width), silent_row, dtype=np.intp)
    for row, rows in enumerate(sources):
        index[row, : len(rows)] = rows
    return index


def sounding(has_frame: npt.NDArray[np.bool_], index: Index) -> npt.NDArray[np.bool_]:
    """Which outputs hear at least one slot that has a frame this tick (`has_frame` has
    one entry per row of the frame block, the silent row False)."""
    return np.asarray(has_frame[index].any(axis=1), dtype=np.bool_)


def mix(frames: npt.NDArray[np.int32], index: Index) -> npt.NDArray[np.int32]:
    """The sum of each output's sources: shape (outputs, FRAME), int32 (not yet
    saturated: the encoder and the WAV writer saturate to 16 bits)."""
    mixed: npt.NDArray[np.int32] = frames[index].sum(axis=1, dtype=np.int32)
    return mixed


def saturate(samples: npt.NDArray[np.int32]) -> npt.NDArray[np.int16]:
    """Sums clipped to the 16-bit range (a saturated sum, as a mixer must)."""
    return np.clip(samples, -32768, 32767).astype(np.int16)
