"""Kamailio's JSON-RPC over its FIFO transport (jsonrpcs module, README section 7.2).

One exchange: make a reply FIFO in Kamailio's fifo_reply_dir, open it for reading,
write the request (naming the reply FIFO in `reply_name`) to Kamailio's FIFO, read
the reply until Kamailio closes its end, remove the reply FIFO.

Why a FIFO and not jsonrpcs' unix datagram socket: the datagram transport sends each
reply as one datagram from a socket whose send buffer it sets to 64 KiB, so a reply
larger than about 128 KiB (the kernel doubles the value) fails with EMSGSIZE. A full
`ul.dump` takes ~600 bytes per registered phone: a 1,000-agent site is several
hundred KiB. A FIFO reply is a byte stream of any size.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import secrets
import selectors
import time
from pathlib import Path
from typing import Any

__all__ = ["MAX_REPLY_PATH", "REPLY_NAME_LENGTH", "KamailioRpc", "KamailioRpcError"]

# jsonrpcs builds the reply FIFO's path as fifo_reply_dir + reply_name in a 128-byte
# buffer (JSONRPC_MAX_FILENAME), NUL included; a longer one gets no reply at all.
MAX_REPLY_PATH = 127
_REPLY_PREFIX = "presence_"
# reply_name may not contain '.', '/' or '\\' (jsonrpcs refuses it): prefix + hex only.
REPLY_NAME_LENGTH = len(_REPLY_PREFIX) + 16
# A request is one small JSON document: one write of at most PIPE_BUF bytes is atomic,
# so requests from several processes cannot interleave in Kamailio's FIFO.
_PIPE_BUF = 4096


class KamailioRpcError(Exception):
    """Kamailio's RPC could not be reached, did not answer in time, or answered an error."""


class KamailioRpc:
    """A client of one Kamailio's jsonrpcs FIFO; `reply_dir` is its fifo_reply_dir."""

    def __init__(
        self, fifo: str | Path, *, reply_dir: str | Path | None = None, timeout: float = 5.0
    ) -> None:
        self.fifo = Path(fifo)
        self.reply_dir = Path(reply_dir) if reply_dir is not None else self.fifo.parent
        self.timeout = timeout
        self._ids = itertools.count(1)

    def call(self, method: str, *params: object) -> Any:
        """Run one RPC command; return its `result`, or raise KamailioRpcError."""
        request_id = next(self._ids)
        name = _REPLY_PREFIX + secrets.token_hex(8)
        request: dict[str, Any] = {
            "jsonrpc": "2.0",
            "method": method,
            "id": request_id,
            "reply_name": name,
        }
        if params:
            request["params"] = list(params)
        data = json.dumps(request).encode()
        if len(data) > _PIPE_BUF:
            raise KamailioRpcError(f"{method}: request of {len(data)} bytes is too large")
        reply_path = self.reply_dir / name
        try:
            os.mkfifo(reply_path, 0o600)
        except OSError as exc:
            raise KamailioRpcError(f"cannot create reply FIFO {reply_path}: {exc}") from exc
        try:
            # Open our end first and without blocking: Kamailio opens the other end
            # non-blocking too and gives up (ENXIO) when nobody reads yet.
            reader = os.open(reply_path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                self._send(data)
                raw = self._read_reply(reader, method)
            finally:
                os.close(reader)  # Kamailio, if still writing, gets EPIPE and moves on
        finally:
            reply_path.unlink(missing_ok=True)
        return _result(raw, request_id, method)

    def _send(self, data: bytes) -> None:
        try:
            # Non-blocking: with no reader (Kamailio not running) this fails with ENXIO
            # instead of hanging; a full FIFO (Kamailio stuck) fails with EAGAIN.
            writer = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            reason = "Kamailio is not reading it" if exc.errno == errno.ENXIO else exc.strerror
            raise KamailioRpcError(f"cannot open {self.fifo}: {reason}") from exc
        try:
            os.write(writer, data)
        except OSError as exc:
            raise KamailioRpcError(f"cannot write to {self.fifo}: {exc.strerror}") from exc
        finally:
            os.close(writer)

    def _read_reply(self, reader: int, method: str) -> bytes:
        """Everything Kamailio writes until it closes its end, within the deadline.

        Until Kamailio opens its end, the FIFO is neither readable nor hung up (Linux
        reports a hang-up only after a writer came and went), so waiting is safe.
        """
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        with selectors.DefaultSelector() as selector:
            selector.register(reader, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise KamailioRpcError(
                        f"{method}: no complete reply from Kamailio within {self.timeout:g}s"
                    )
                if not selector.select(left):
                    continue
                try:
                    chunk = os.read(reader, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)


def _result(raw: bytes, request_id: int, method: str) -> Any:
    try:
        reply = json.loads(raw)
    except ValueError as exc:
        raise KamailioRpcError(f"{method}: reply is not JSON ({len(raw)} bytes): {exc}") from exc
    if not isinstance(reply, dict):
        raise KamailioRpcError(f"{method}: reply is not a JSON-RPC object")
    if "error" in reply:
        raise KamailioRpcError(f"{method}: Kamailio answered {reply['error']}")
    if reply.get("id") != request_id or "result" not in reply:
        raise KamailioRpcError(f"{method}: unexpected reply {str(reply)[:200]}")
    return reply["result"]
