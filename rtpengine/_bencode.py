"""A lenient bencode decoder for rtpengine's ng replies.

rtpengine writes dictionary keys in insertion order, not sorted order, so a
strict decoder (fastbencode) refuses its `offer`/`answer`/`query` replies with
"dict keys disordered". Encoding stays with fastbencode (our requests are sorted).
"""

from __future__ import annotations

from typing import Any


class BencodeError(ValueError):
    """The bytes are not bencode."""


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise BencodeError("truncated bencode")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.index(b"e", pos)
        return int(data[pos + 1 : end]), end + 1
    if lead == b"l":
        items: list[Any] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        result: dict[bytes, Any] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _decode(data, pos)
            if not isinstance(key, bytes):
                raise BencodeError("bencode dict key is not a string")
            result[key], pos = _decode(data, pos)
        return result, pos + 1
    if lead.isdigit():
        colon = data.index(b":", pos)
        length = int(data[pos:colon])
        start = colon + 1
        if start + length > len(data):
            raise BencodeError("truncated bencode string")
        return data[start : start + length], start + length
    raise BencodeError(f"bad bencode at offset {pos}")


def bdecode(data: bytes) -> Any:
    try:
        value, end = _decode(data, 0)
    except (ValueError, IndexError) as exc:
        raise BencodeError(str(exc)) from exc
    if end != len(data):
        raise BencodeError("trailing bytes after bencode")
    return value
