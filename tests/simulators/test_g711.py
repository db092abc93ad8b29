"""G.711 as the test parties send it and testbed decodes it (simulators/_g711.py)."""

from __future__ import annotations

from simulators import ULAW_SILENCE, alaw_to_linear, linear_to_ulaw, ulaw_to_linear


def test_mu_law_round_trips_within_its_quantisation() -> None:
    assert linear_to_ulaw(0) == ULAW_SILENCE and ulaw_to_linear(ULAW_SILENCE) == 0
    assert linear_to_ulaw(32767) == 0x80 and linear_to_ulaw(-32768) == 0x00
    for sample in (-30000, -1000, -100, -5, 5, 100, 1000, 30000):
        decoded = ulaw_to_linear(linear_to_ulaw(sample))
        assert abs(decoded - sample) <= max(8, abs(sample) // 16), sample


def test_a_law_decodes_as_the_itu_table() -> None:
    # The smallest and largest level of each sign (0xD5 and 0x55 are A-law's zeros).
    assert [alaw_to_linear(c) for c in (0xD5, 0x55, 0xAA, 0x2A)] == [8, -8, 32256, -32256]
    levels = [alaw_to_linear(c) for c in range(256)]
    assert sorted(levels) == sorted(-level for level in levels)  # symmetric
    assert len(set(levels)) == 256
