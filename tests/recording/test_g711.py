"""G.711 in both directions: recording's public g711_decode / g711_encode."""

from __future__ import annotations

import numpy as np
import pytest

from recording import g711_decode, g711_encode
from simulators import decode_alaw, decode_ulaw, encode_alaw, encode_ulaw


def test_decode_agrees_with_the_simulators_laws() -> None:
    codes = bytes(range(256))
    assert g711_decode(codes, 0).tolist() == decode_ulaw(codes).tolist()
    assert g711_decode(codes, 8).tolist() == decode_alaw(codes).tolist()


def test_encode_is_the_nearest_code() -> None:
    samples = np.arange(-32768, 32768, dtype=np.int32)
    ulaw = g711_encode(samples, 0)
    alaw = g711_encode(samples, 8)
    assert alaw.tobytes() == encode_alaw(samples)
    # The same as the test parties' encoder but for silence: 0xFF, not 0x7F (both 0).
    differ = np.flatnonzero(ulaw != np.frombuffer(encode_ulaw(samples), dtype=np.uint8))
    assert (samples[differ] == 0).all()
    assert g711_encode(np.array([0]), 0).tolist() == [0xFF]
    # Round trip within the law's range (mu-law tops out at 32124): at most half of the
    # largest quantisation step off.
    inside = np.abs(samples) <= 32124
    assert np.abs(g711_decode(ulaw, 0) - samples)[inside].max() <= 512
    assert np.abs(g711_decode(alaw, 8) - samples)[inside].max() <= 512


def test_sums_saturate_and_laws_mix_per_row() -> None:
    assert g711_decode(g711_encode(np.array([70000, -70000]), 0), 0).tolist() == [32124, -32124]
    rows = np.array([[1000] * 4, [1000] * 4])
    laws = np.array([[0], [8]])
    codes = g711_encode(rows, laws)
    assert codes.shape == (2, 4)
    assert codes[0, 0] == g711_encode(np.array([1000]), 0)[0]
    assert codes[1, 0] == g711_encode(np.array([1000]), 8)[0]
    assert g711_decode(codes, laws).shape == (2, 4)


def test_other_payload_types_are_refused() -> None:
    with pytest.raises(ValueError, match=r"not a G\.711 payload type.*\[9\]"):
        g711_decode(b"\0", 9)
    with pytest.raises(ValueError, match=r"not a G\.711"):
        g711_encode(np.zeros(2), np.array([0, 18]))
