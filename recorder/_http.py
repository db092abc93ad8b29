"""The recorder's HTTP face on `recording.listen`: /healthz (JSON) and /metrics."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from configuration import split_hostport

from ._metrics import Metrics

log = logging.getLogger("recorder.http")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A prober that gave up (its timeout passed while this process was busy) is no
        error of ours; anything else is, and goes to the log, not bare to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, exc)
        else:
            log.exception("request from %s failed", client_address)


def serve_http(
    listen: str, metrics: Metrics, health: Callable[[], dict[str, Any]]
) -> ThreadingHTTPServer:
    """Serve in a daemon thread; the caller shuts the returned server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", metrics.render().encode())
            elif path == "/healthz":
                body = health()
                status = 200 if body.get("ok") else 503
                self._send(status, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the log

    host, port = split_hostport(listen)
    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="recorder-http", daemon=True).start()
    return server
