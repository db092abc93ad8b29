"""rtpengine's TCP ng notifications: splitting the stream, reading an onDTMF event."""

from __future__ import annotations

import pytest

from rtpengine import DtmfEvent, NotificationDecoder, NotificationError, dtmf_event
from rtpengine._bencode import BencodeError, BencodeTruncated, bdecode, decode_prefix

# As rtpengine 10.5 writes one (keys in its order, not sorted; daemon/dtmf.c).
ON_DTMF = (
    b"d6:notify6:onDTMF4:datad4:tagsl2:L14:parke6:callid8:cid-0001"
    b"10:source_tag2:L14:type4:DTMF9:source_ip9:127.0.0.19:timestampi1796640268e"
    b"5:eventi11e8:durationi120e6:volumei10eee"
)


def message(cookie: bytes = b"0123456789abcdef", body: bytes = ON_DTMF) -> bytes:
    return cookie + b" " + body


def test_one_message_gives_its_dtmf_event() -> None:
    (decoded,) = NotificationDecoder().feed(message())
    assert decoded["notify"] == "onDTMF"
    assert dtmf_event(decoded) == DtmfEvent("cid-0001", "L1", "#", 120)


def test_a_message_split_anywhere_comes_out_once_it_is_whole() -> None:
    wire = message()
    for cut in range(1, len(wire)):
        decoder = NotificationDecoder()
        assert decoder.feed(wire[:cut]) == []
        assert len(decoder.feed(wire[cut:])) == 1, cut


def test_messages_back_to_back_come_out_in_order() -> None:
    second = ON_DTMF.replace(b"i11e", b"i5e", 1)
    wire = message() + message(b"fedcba9876543210", second) + message()[:10]
    events = [dtmf_event(m) for m in NotificationDecoder().feed(wire)]
    assert [e.digit for e in events if e is not None] == ["#", "5"]


def test_bytes_that_are_not_messages_are_refused() -> None:
    with pytest.raises(NotificationError, match="cookie"):
        NotificationDecoder().feed(b"not-a-cookie!! d4:spame")
    with pytest.raises(NotificationError):
        NotificationDecoder().feed(b"0123456789abcdef x")
    with pytest.raises(NotificationError, match="not a dictionary"):
        NotificationDecoder().feed(b"0123456789abcdef 4:spam")
    with pytest.raises(NotificationError, match="no cookie"):
        NotificationDecoder().feed(b"x" * 100)


@pytest.mark.parametrize(
    "body",
    [
        b"d6:notify7:onOther4:datadee",  # another notification
        b"d6:result4:ponge",  # a reply, not a notification
        b"d6:notify6:onDTMF4:datai1ee",  # data not a dict
        b"d6:notify6:onDTMF4:datad6:callid1:x10:source_tag2:L15:eventi16eee",  # event > 15
        b"d6:notify6:onDTMF4:datad10:source_tag2:L15:eventi1eee",  # no call-id
    ],
)
def test_anything_but_a_well_formed_dtmf_event_reads_as_none(body: bytes) -> None:
    (decoded,) = NotificationDecoder().feed(message(body=body))
    assert dtmf_event(decoded) is None


def test_a_dtmf_events_repr_keeps_the_digit_out() -> None:
    assert "#" not in repr(DtmfEvent("c", "L1", "#", 100))
    assert "digit" not in repr(DtmfEvent("c", "L1", "5", 100))


def test_decode_prefix_tells_truncated_from_wrong() -> None:
    assert decode_prefix(b"4:spamxyz") == (b"spam", 6)
    for truncated in (b"", b"4:sp", b"12", b"i12", b"l4:spam", b"d3:key"):
        with pytest.raises(BencodeTruncated):
            decode_prefix(truncated)
    for wrong in (b"x", b"12x", b"ixe", b"di1e4:spame"):
        with pytest.raises(BencodeError) as caught:
            decode_prefix(wrong)
        assert not isinstance(caught.value, BencodeTruncated), wrong
    with pytest.raises(BencodeError, match="trailing"):
        bdecode(b"4:spamx")
