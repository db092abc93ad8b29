"""The media checks' own guarantees: what makes a "nobody heard it" assertion sound."""

from __future__ import annotations

from testbed import fresh_markers


def test_an_exchange_never_reuses_a_marker_of_the_49_before_it() -> None:
    """Endpoints count every packet they ever got, so a reused marker would count an
    earlier exchange's audio as heard now (the released agent of an intercept, which
    heard the caller before it, failed `talk` once in 100 runs with random markers)."""
    markers = [fresh_markers() for _ in range(50)]
    for side in zip(*markers, strict=True):
        assert len(set(side)) == len(side)
    a, b, released = (set(side) for side in zip(*markers, strict=True))
    assert not (a & b or a & released or b & released)
