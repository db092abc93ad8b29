"""The CDR daemon's loopback API: health and reports over HTTP.

Why HTTP+JSON(+Arrow) from the standard library and not gRPC: the API is four
read-only calls whose answers are tables. Arrow IPC carries a DataFrame with its
dtypes in one response, JSON requests need no generated stubs (no proto drift to
check in CI), and `curl 127.0.0.1:8710/healthz` works for operators and the
`callcenter up` probe. The hot path (events in) does not go through it.

Endpoints:
- `GET /healthz` -> JSON `{"ok": true, "store": ..., "dialect": ..., "events": n, ...}`
- `POST /v1/report` `{"method": "queue_summary", "params": {...}}` -> Arrow IPC stream
  (or JSON records with `Accept: application/json`). `method` is one of
  `Statistics.METHODS`; times are epoch seconds.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa  # type: ignore[import-untyped]

from configuration import split_hostport

from ._client import ARROW_STREAM

log = logging.getLogger("analytics.service")


class ApiBackend(Protocol):
    """What the API serves: the daemon (`CdrService`)."""

    def health(self) -> dict[str, Any]: ...

    def report(self, method: str, params: dict[str, Any]) -> pd.DataFrame: ...


def serve_api(listen: str, backend: ApiBackend) -> ThreadingHTTPServer:
    """Bind `listen` ("host:port", port 0 for any) and serve in a daemon thread."""
    handler = type("Handler", (_Handler,), {"backend": backend})
    server = ThreadingHTTPServer(split_hostport(listen), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server


def _to_arrow_bytes(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


class _Handler(BaseHTTPRequestHandler):
    backend: ApiBackend
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, default=str).encode(), "application/json")

    def do_GET(self) -> None:
        if self.path == "/healthz":
            health = self.backend.health()
            status = HTTPStatus.OK if health["ok"] else HTTPStatus.SERVICE_UNAVAILABLE
            self._json(status, health)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/v1/report":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            method = str(request["method"])
            params = request.get("params") or {}
            if not isinstance(params, dict):
                raise ValueError("params must be an object")
            df = self.backend.report(method, params)
        except (KeyError, ValueError, TypeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"{type(exc).__name__}: {exc}"})
            return
        except Exception as exc:  # the store failed: report it, keep serving
            log.exception("report failed")
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})
            return
        if "application/json" in self.headers.get("Accept", ""):
            self._send(
                HTTPStatus.OK,
                df.to_json(orient="records", date_unit="ms").encode(),
                "application/json",
            )
        else:
            self._send(HTTPStatus.OK, _to_arrow_bytes(df), ARROW_STREAM)
