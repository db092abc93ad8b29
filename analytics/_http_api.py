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
- `GET /v1/calls?agent=<account>&limit=50&since=<epoch s>` -> JSON `{"agent", "since",
  "calls": [...]}`: one agent's recent calls, newest first (the agent desktop's call
  history; `Statistics.agent_calls`, docs/analytics.md).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, urlsplit

import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa  # type: ignore[import-untyped]

from configuration import split_hostport

from ._client import ARROW_STREAM
from ._reports import AGENT_CALLS_MAX

log = logging.getLogger("analytics.service")

# GET /v1/calls: without `since`, the last 30 days (the CDR scan stays bounded).
CALLS_DEFAULT_DAYS: Final = 30
CALLS_DEFAULT_LIMIT: Final = 50
_CALL_TIMES: Final = ("start", "answered_at", "end")


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


def calls_query(query: str, now: float) -> dict[str, Any]:
    """The `agent_calls` params of a GET /v1/calls query string; ValueError says what is
    wrong with it."""
    fields = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(fields) - {"agent", "limit", "since"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: agent, limit, since")
    for name, values in fields.items():
        if len(values) > 1:
            raise ValueError(f"{name} given {len(values)} times")
    agent = fields.get("agent", [""])[0].strip()
    if not agent:
        raise ValueError("agent is required (the agent's account)")
    try:
        limit = int(fields.get("limit", [str(CALLS_DEFAULT_LIMIT)])[0])
    except ValueError:
        raise ValueError(f"limit must be an integer 1..{AGENT_CALLS_MAX}") from None
    if not 1 <= limit <= AGENT_CALLS_MAX:
        raise ValueError(f"limit must be an integer 1..{AGENT_CALLS_MAX}, not {limit}")
    since = now - CALLS_DEFAULT_DAYS * 86_400.0
    if "since" in fields:
        try:
            since = float(fields["since"][0])
        except ValueError:
            raise ValueError("since must be epoch seconds") from None
        if not math.isfinite(since) or since < 0:
            raise ValueError("since must be epoch seconds")
    return {"agent": agent, "limit": limit, "since": since}


def _seconds(value: Any) -> float | None:
    """A timestamp cell as epoch seconds (UTC), None for NULL."""
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def calls_json(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `agent_calls` as JSON-able dicts: times in epoch seconds or null."""
    rows: list[dict[str, Any]] = []
    for record in df.to_dict("records"):
        row: dict[str, Any] = {}
        for name, value in record.items():
            if name in _CALL_TIMES:
                row[name] = _seconds(value)
            elif name == "talk_s":
                row[name] = 0.0 if pd.isna(value) else float(value)
            else:
                row[name] = str(value)
        rows.append(row)
    return rows


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
        url = urlsplit(self.path)
        if self.path == "/healthz":
            health = self.backend.health()
            status = HTTPStatus.OK if health["ok"] else HTTPStatus.SERVICE_UNAVAILABLE
            self._json(status, health)
        elif url.path == "/v1/calls":
            self._calls(url.query)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path}"})

    def _calls(self, query: str) -> None:
        try:
            params = calls_query(query, time.time())
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        try:
            df = self.backend.report("agent_calls", params)
        except Exception as exc:  # the store failed: report it, keep serving
            log.exception("agent calls failed")
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._json(
            HTTPStatus.OK,
            {"agent": params["agent"], "since": params["since"], "calls": calls_json(df)},
        )

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
