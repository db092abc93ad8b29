"""How every API route runs: the session from the cookie, the CSRF check, the role
check, the JSON body, the work in a thread (Redis, gRPC and the store block), and
refusals as the contract's JSON errors. Plus the input checks routes share."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._csrf import CSRF_HEADER, csrf_ok
from ._desk import Desk
from ._errors import ApiError, error_body
from ._sessions import Session

__all__ = [
    "COOKIE",
    "Ctx",
    "api",
    "opt_str",
    "req_int",
    "req_str",
]

log = logging.getLogger(__name__)
COOKIE = "cc_session"
MAX_BODY = 64 * 1024


@dataclass
class Ctx:
    desk: Desk
    request: Request
    body: dict[str, Any]
    session: Session | None
    # Set by a handler: a Set-Cookie to add, or True to clear the cookie.
    set_cookie: str | None = None
    clear_cookie: bool = False
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def me(self) -> Session:
        assert self.session is not None  # api() guarantees it unless public
        return self.session

    @property
    def client_ip(self) -> str:
        return self.request.client.host if self.request.client else "-"

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def path_int(self, name: str) -> int:
        raw = self.request.path_params[name]
        if isinstance(raw, int):
            return raw
        try:
            return int(raw)
        except ValueError:
            raise ApiError(404, "not_found", f"no such {name} {raw!r}") from None


Handler = Callable[[Ctx], Any]


def api(
    handler: Handler, *, public: bool = False, roles: tuple[str, ...] = ("agent", "supervisor")
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint around `handler(ctx)`, which runs in a thread and returns
    the reply's JSON (None: an empty 204), or a whole Response (a file's bytes)."""

    async def endpoint(request: Request) -> Response:
        desk: Desk = request.app.state.desk
        try:
            body = await _json_body(request)
            ctx = Ctx(desk, request, body, None)
            if not public:
                session = await run_in_threadpool(desk.sessions.get, request.cookies.get(COOKIE))
                if session is None:
                    raise ApiError(401, "no_session", "no live session; log in")
                if not csrf_ok(
                    request.method, request.headers.get(CSRF_HEADER), session.csrf_token
                ):
                    raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token")
                if session.role not in roles:
                    raise ApiError(403, "forbidden", f"not for the {session.role} role")
                ctx.session = session
            result = await run_in_threadpool(handler, ctx)
        except ApiError as exc:
            response: Response = JSONResponse(error_body(exc), status_code=exc.status)
            if exc.code == "no_session":
                _clear(response)
            return response
        except Exception:  # a bug or an outage the handler did not expect: still JSON
            log.exception("%s %s failed", request.method, request.url.path)
            internal = ApiError(500, "internal", "internal error (see the desktop's log)")
            return JSONResponse(error_body(internal), status_code=500)
        if isinstance(result, Response):
            response = result
        elif result is None and ctx.status in (200, 204):
            response = Response(status_code=204)
        else:
            response = JSONResponse(result, status_code=ctx.status)
        response.headers.update(ctx.headers)
        if ctx.set_cookie is not None:
            response.set_cookie(
                COOKIE,
                ctx.set_cookie,
                secure=True,
                httponly=True,
                samesite="strict",
                path="/",
                max_age=desk.settings.desktop.session_max_s,
            )
        if ctx.clear_cookie:
            _clear(response)
        return response

    return endpoint


def _clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")


async def _json_body(request: Request) -> dict[str, Any]:
    if request.method in ("GET", "HEAD", "DELETE"):
        return {}
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "body must be a JSON object")
    return body


def req_str(body: dict[str, Any], name: str, *, max_len: int = 200, min_len: int = 1) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not min_len <= len(value.strip()) <= max_len:
        raise ApiError(
            422, "invalid", f"{name}: a string of {min_len}..{max_len} characters", field=name
        )
    return value.strip()


def opt_str(body: dict[str, Any], name: str, *, max_len: int = 2000) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(
            422, "invalid", f"{name}: a string of at most {max_len} characters", field=name
        )
    return value


def req_int(value: Any, name: str, *, low: int = 0, high: int = 2**53) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(422, "invalid", f"{name}: an integer", field=name)
    try:
        number = int(value)
    except ValueError:
        raise ApiError(422, "invalid", f"{name}: an integer", field=name) from None
    if not low <= number <= high:
        raise ApiError(422, "invalid", f"{name}: {low}..{high}", field=name)
    return number
