"""The FIFO client's refusals, on real FIFOs without a Kamailio (the exchange with a real
Kamailio is in tests/integration/test_phone_presence.py)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from presence import KamailioRpc, KamailioRpcError
from presence._fifo import _result


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "kamailio.fifo"
    os.mkfifo(path, 0o600)
    return path


@pytest.fixture
def silent_kamailio(fifo: Path) -> Iterator[Path]:
    """A reader on the FIFO that takes requests and never answers (a hung Kamailio)."""
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    yield fifo
    os.close(reader)


def test_no_fifo_is_an_error_naming_it(tmp_path: Path) -> None:
    rpc = KamailioRpc(tmp_path / "missing.fifo", timeout=0.5)
    with pytest.raises(KamailioRpcError, match=r"cannot open .*missing\.fifo: No such file"):
        rpc.call("ul.dump")
    assert list(tmp_path.iterdir()) == []  # the reply FIFO is gone again


def test_a_fifo_nobody_reads_fails_at_once(fifo: Path) -> None:
    # What a FIFO left behind by a stopped Kamailio looks like: no reader, ENXIO.
    with pytest.raises(KamailioRpcError, match="Kamailio is not reading it"):
        KamailioRpc(fifo, timeout=5).call("ul.dump")


def test_no_reply_in_time_is_an_error_and_leaves_no_reply_fifo(silent_kamailio: Path) -> None:
    rpc = KamailioRpc(silent_kamailio, timeout=0.3)
    with pytest.raises(KamailioRpcError, match=r"ul\.dump: no complete reply .* within 0\.3s"):
        rpc.call("ul.dump")
    assert [p.name for p in silent_kamailio.parent.iterdir()] == ["kamailio.fifo"]


def test_a_reply_fifo_that_cannot_be_made_is_an_error(fifo: Path, tmp_path: Path) -> None:
    rpc = KamailioRpc(fifo, reply_dir=tmp_path / "no-such-dir", timeout=0.3)
    with pytest.raises(KamailioRpcError, match="cannot create reply FIFO"):
        rpc.call("ul.dump")


def test_the_request_names_the_reply_fifo_as_jsonrpcs_requires(fifo: Path) -> None:
    """One JSON object with reply_name: no '.', '/' or '\\' (jsonrpcs refuses those)."""
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    seen = bytearray()
    stop = threading.Event()

    def read_request() -> None:  # a Kamailio that reads the request and never answers
        while not stop.is_set():
            with contextlib.suppress(BlockingIOError):  # nothing written yet
                seen.extend(os.read(reader, 4096))
            stop.wait(0.01)

    thread = threading.Thread(target=read_request)
    thread.start()
    try:
        with pytest.raises(KamailioRpcError, match="no complete reply"):
            KamailioRpc(fifo, timeout=0.3).call("ul.dump", "brief")
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(reader)
    request = json.loads(seen)
    assert request["method"] == "ul.dump" and request["params"] == ["brief"]
    assert request["jsonrpc"] == "2.0"
    assert not set(request["reply_name"]) & set("./\\")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not JSON"),
        (b'{"jsonrpc": "2.0", "res', "not JSON"),
        (b"[1, 2]", "not a JSON-RPC object"),
        (
            b'{"jsonrpc": "2.0", "error": {"code": 500, "message": "Method Not Found"}, "id": 7}',
            "Kamailio answered .*Method Not Found",
        ),
        (b'{"jsonrpc": "2.0", "result": {}, "id": 6}', "unexpected reply"),
        (b'{"jsonrpc": "2.0", "id": 7}', "unexpected reply"),
    ],
)
def test_replies_that_are_not_a_result_are_errors(raw: bytes, message: str) -> None:
    with pytest.raises(KamailioRpcError, match=message):
        _result(raw, 7, "ul.dump")


def test_a_result_is_returned() -> None:
    assert _result(b'{"jsonrpc": "2.0", "result": {"a": 1}, "id": 7}', 7, "x") == {"a": 1}
