"""A lenient bencode decoder for rtpengine's ng replies and notifications.

rtpengine writes dictionary keys in insertion order, not sorted order, so a
strict decoder (fastbencode) refuses its `offer`/`answer`/`query` replies with
"dict keys disordered". Encoding stays with fastbencode (our requests are sorted).
`decode_prefix` reads one value from the front of a stream (TCP ng) and tells
"not all here yet" (`BencodeTruncated`) from bytes that are no bencode at all.
"""

from __future__ import annotations

from typing import Any


class BencodeError(ValueError):
    """The bytes are not bencode."""


class BencodeTruncated(BencodeError):
    """The bytes are the start of a bencode value whose end has not arrived yet."""


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise BencodeTruncated("truncated bencode")
    lead = data[pos : pos + 1]
    if lead == b"i":
        end = data.find(b"e", pos)
        if end < 0:
            raise BencodeTruncated("truncated bencode integer")
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
        colon = data.find(b":", pos)
        if colon < 0:
            if data[pos:].isdigit():
                raise BencodeTruncated("truncated bencode string length")
            raise BencodeError(f"bad bencode string length at offset {pos}")
        length = int(data[pos:colon])
        start = colon + 1
        if start + length > len(data):
            raise BencodeTruncated("truncated bencode string")
        return data[start : start + length], start + length
    raise BencodeError(f"bad bencode at offset {pos}")


def decode_prefix(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """The value that starts at `pos`, and the offset just after it.

    Raises `BencodeTruncated` when `data` ends inside the value, `BencodeError` when
    it is not bencode.
    """
    try:
        return _decode(data, pos)
    except BencodeError:
        raise
    except (ValueError, IndexError) as exc:
        raise BencodeError(str(exc)) from exc


def bdecode(data: bytes) -> Any:
    value, end = decode_prefix(data)
    if end != len(data):
        raise BencodeError("trailing bytes after bencode")
    return value
