"""A line-based control socket on loopback: one JSON object per line each way.

A stand-in transport for tests and operators until the ACD speaks gRPC. Each
request runs on the SIP event loop through `run_on_loop`, so the service stays
single-threaded.
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("controller.control")

Executor = Callable[[Mapping[str, Any]], dict[str, Any]]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        for raw in self.rfile:
            line = raw.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a command is a JSON object")
                reply = self.server.run_on_loop(request)
            except ValueError as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # keep the connection; report the failure
                log.exception("control command failed")
                reply = {"ok": False, "error": f"internal error: {exc}"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], run_on_loop: Executor) -> None:
        self.run_on_loop = run_on_loop
        super().__init__(address, _Handler)


class ControlServer:
    def __init__(self, host: str, port: int, run_on_loop: Executor) -> None:
        self._server = _Server((host, port), run_on_loop)
        self.address: tuple[str, int] = self._server.server_address[:2]  # type: ignore[assignment]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="control", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
