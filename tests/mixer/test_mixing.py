"""The mixing of a tick: each output sums the frames of the slots it hears."""

from __future__ import annotations

import numpy as np

from mixer._mixing import FRAME, mix, saturate, sounding, source_index


def test_each_output_sums_its_sources_and_silence_pads() -> None:
    frames = np.zeros((4, FRAME), dtype=np.int32)  # slots 0..2, row 3 silent
    frames[0] = 100
    frames[1] = 20
    frames[2] = 3
    index = source_index([[1, 2], [0, 2], [0], []], silent_row=3)
    assert index.shape == (4, 2)
    assert index[2].tolist() == [0, 3] and index[3].tolist() == [3, 3]
    mixed = mix(frames, index)
    assert mixed[:, 0].tolist() == [23, 103, 100, 0]
    assert mixed.shape == (4, FRAME)


def test_an_output_sounds_only_when_a_heard_slot_has_a_frame() -> None:
    has_frame = np.array([True, False, False, False])  # slot 0 only; row 3 is silence
    index = source_index([[1, 2], [0, 2], [2]], silent_row=3)
    assert sounding(has_frame, index).tolist() == [False, True, False]


def test_no_outputs_and_saturation() -> None:
    assert source_index([], silent_row=0).shape == (0, 1)
    assert mix(np.zeros((1, FRAME), np.int32), source_index([], 0)).shape == (0, FRAME)
    loud = np.full((3, FRAME), 30000, dtype=np.int32)
    loud[1] = -30000
    summed = mix(loud, source_index([[0, 2], [1, 1]], silent_row=2))
    assert saturate(summed)[:, 0].tolist() == [32767, -32768]
