"""The agent's own routes: login and the session, heartbeat, state, wrap-up, the
directory, transfers and consults, recording on demand and "play this message twice",
the voicemail tab, history, the page's vocabularies."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ._acd import RECORDING_OPS, AgentLive, SessionGone
from ._errors import ApiError
from ._events import call_queue, took_call
from ._history import agent_history
from ._http import Ctx, api, opt_str, req_int, req_str
from ._sessions import Session
from ._wrapup import publish_wrap_up

__all__ = ["agent_routes", "session_reply"]

log = logging.getLogger(__name__)
_SKILL_NAME_MAX = 64
# docs/recording.md: a recording's name 1..64 characters, a message's text 1..500.
RECORDING_NAME_MAX = 64
MESSAGE_TEXT_MAX = 500
MESSAGE_LANGUAGES = ("zh", "en")
# Voicemail message IDs are uuid4().hex; a box name is a config name or agent.<user>.
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_BOX_MAX = 128


def session_reply(ctx: Ctx, session: Session, state: str) -> dict[str, Any]:
    settings = ctx.desk.settings
    account = ctx.desk.accounts.get(session.username)
    return {
        "agent": {
            "username": session.username,
            "employee_id": session.employee_id,
            "seat": session.seat,
            "role": session.role,
            "skills": session.skills,
            "display": session.display or session.username,
        },
        "state": state,
        "csrf_token": session.csrf_token,
        "lease_seconds": session.lease_seconds,
        "sip": {
            "wss_url": settings.wss_url,
            "uri": f"sip:{session.username}@{settings.realm}",
            "realm": settings.realm,
            "ha1": account.ha1 if account is not None else "",
        },
    }


def _state_of(ctx: Ctx, session: Session, *, fresh: bool = False) -> str:
    """The agent's state: `fresh` right after a command changed it, else as the
    snapshot stream last showed it (at most a couple of seconds old)."""
    live = ctx.desk.acd.agent(session.employee_id, fresh=fresh)
    return live.state if live is not None else "logged_out"


def _skills(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 32:
        raise ApiError(
            422, "invalid", "skills: an object of at most 32 {name: level}", field="skills"
        )
    skills = {}
    for name, level in value.items():
        if not isinstance(name, str) or not 0 < len(name) <= _SKILL_NAME_MAX:
            raise ApiError(422, "invalid", f"skills: bad skill name {name!r}", field="skills")
        skills[name] = req_int(level, "skills", low=1, high=100)
    return skills


def login(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    username = req_str(body, "username", max_len=64)
    password = body.get("password")
    if not isinstance(password, str) or not password or len(password) > 256:
        raise ApiError(422, "invalid", "password: 1..256 characters", field="password")
    seat = req_int(body.get("seat"), "seat", high=2**31 - 1)
    employee_id = req_int(body.get("employee_id"), "employee_id", high=2**62)
    role = body.get("role", "agent")
    if role not in ("agent", "supervisor"):
        raise ApiError(422, "role_invalid", "role: agent or supervisor", field="role")
    skills = _skills(body.get("skills"))
    start_busy = bool(body.get("start_busy", False))
    desk = ctx.desk
    if desk.limiter.blocked(username, ctx.client_ip):
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed logins for {username}; "
            f"try again in {desk.limiter.window_s // 60} minutes",
        )
    try:
        result = desk.acd.login(
            username=username,
            password=password,
            seat=seat,
            employee_id=employee_id,
            role=role,
            skills=skills,
            start_busy=start_busy,
        )
    except ApiError as exc:
        if exc.code == "bad_credentials":
            desk.limiter.failed(username, ctx.client_ip)
        raise
    desk.limiter.succeeded(username, ctx.client_ip)
    session = desk.sessions.create(
        username=username,
        employee_id=employee_id,
        seat=seat,
        role=role,
        skills=skills,
        acd_session=result.session_id,
        lease_seconds=result.lease_seconds,
        display=username,
    )
    ctx.set_cookie = session.id
    log.info(
        "login %s (employee %d, seat %d, %s) from %s",
        username,
        employee_id,
        seat,
        role,
        ctx.client_ip,
    )
    return session_reply(ctx, session, _state_of(ctx, session, fresh=True))


def _end_web_session(ctx: Ctx) -> None:
    ctx.desk.sessions.delete(ctx.me.id)
    ctx.clear_cookie = True


def _acd_call(ctx: Ctx, method: str, *args: Any) -> Any:
    """An agent command with the agent's desk session; a session the ACD no longer
    has ends the web session too (401 no_session: the page shows the login)."""
    me = ctx.me
    try:
        return getattr(ctx.desk.acd, method)(me.employee_id, me.acd_session, *args)
    except SessionGone:
        _end_web_session(ctx)
        raise


def get_session(ctx: Ctx) -> dict[str, Any]:
    """A page reload: the session goes on if the ACD still has the desk session (the
    heartbeat checks it and renews the lease), else it ends here too (401)."""
    _acd_call(ctx, "heartbeat")
    return session_reply(ctx, ctx.me, _state_of(ctx, ctx.me, fresh=True))


def heartbeat(ctx: Ctx) -> dict[str, Any]:
    lease = _acd_call(ctx, "heartbeat")
    return {"lease_seconds": lease, "state": _state_of(ctx, ctx.me)}


def logout(ctx: Ctx) -> dict[str, Any]:
    """Logged out now: the web session ends. Deferred (talking): it lives on, so the
    page keeps its softphone and events until the call ends; the ACD then logs the
    desk out and the next request answers `no_session`."""
    try:
        deferred = bool(_acd_call(ctx, "logout"))
    except ApiError as exc:
        if exc.code != "no_session":
            raise
        return {"deferred": False}
    if not deferred:
        _end_web_session(ctx)
    return {"deferred": deferred}


def set_state(ctx: Ctx) -> dict[str, Any]:
    state = ctx.body.get("state")
    if state == "busy":
        reason = req_str(ctx.body, "reason", max_len=32)
        if reason not in ctx.desk.settings.desktop.busy_reasons:
            raise ApiError(
                422, "invalid", f"reason: one of the busy reasons, not {reason!r}", field="reason"
            )
        _acd_call(ctx, "set_busy", reason)
    elif state == "idle":
        _acd_call(ctx, "set_idle")
    else:
        raise ApiError(422, "invalid", 'state: "busy" or "idle"', field="state")
    return {"state": _state_of(ctx, ctx.me, fresh=True)}


def _offered_to_me(ctx: Ctx, call_id: str) -> bool:
    return call_queue(ctx.desk.redis, ctx.me.employee_id, call_id) is not None


def _took(ctx: Ctx, call_id: str) -> bool:
    """The agent talked on this call: the snapshot stream saw it (any replica noted it
    in Redis), or it is on it now."""
    if took_call(ctx.desk.redis, ctx.me.employee_id, call_id):
        return True
    live = ctx.desk.acd.agent(ctx.me.employee_id, fresh=True)
    return live is not None and live.call_id == call_id and live.state == "talking"


def wrap_up(ctx: Ctx) -> dict[str, Any]:
    call_id = req_str(ctx.body, "call_id", max_len=64)
    code = req_str(ctx.body, "code", max_len=32)
    note = opt_str(ctx.body, "note") or ""
    if code not in {c.code for c in ctx.desk.settings.desktop.wrap_up_codes}:
        raise ApiError(
            422, "invalid", f"code: one of the wrap-up codes, not {code!r}", field="code"
        )
    if not _took(ctx, call_id):
        raise ApiError(403, "forbidden", f"this agent did not take call {call_id}")
    me = ctx.me
    ctx.desk.records.call(
        "save_wrap_up",
        call_id=call_id,
        employee_id=me.employee_id,
        username=me.username,
        code=code,
        note=note,
    )
    settings = ctx.desk.settings
    publish_wrap_up(
        ctx.desk.redis,
        settings.events_stream,
        settings.node,
        call_id=call_id,
        username=me.username,
        code=code,
    )
    return {}


def directory(ctx: Ctx) -> dict[str, Any]:
    snapshot = ctx.desk.acd.snapshot()
    from ._acd import STATE_NAMES  # noqa: PLC0415 - the one table of state names

    agents = [
        {
            "username": a.username,
            "display": a.username,
            "state": STATE_NAMES.get(a.state, "logged_out"),
        }
        for a in snapshot.agents
        if a.employee_id != ctx.me.employee_id
    ]
    queues = [{"name": q.name} for q in ctx.desk.settings.config.queues]
    return {"agents": sorted(agents, key=lambda a: a["username"]), "queues": queues}


def _my_call(ctx: Ctx, call_id: str) -> AgentLive:
    """The agent's live view, refused unless it is on this call now."""
    live = ctx.desk.acd.agent(ctx.me.employee_id, fresh=True)
    if live is None or live.call_id != call_id:
        raise ApiError(403, "forbidden", f"this agent is not on call {call_id}")
    return live


def transfer(ctx: Ctx) -> dict[str, Any]:
    call_id = req_str(ctx.body, "call_id", max_len=64)
    to_agent = opt_str(ctx.body, "to_agent", max_len=64)
    to_queue = opt_str(ctx.body, "to_queue", max_len=64)
    if (to_agent is None) == (to_queue is None):
        raise ApiError(
            422, "invalid", "give exactly one of to_agent and to_queue", field="to_agent"
        )
    _my_call(ctx, call_id)
    if to_queue is not None:
        if to_queue not in {q.name for q in ctx.desk.settings.config.queues}:
            raise ApiError(404, "unknown_queue", f"no queue {to_queue!r}", field="to_queue")
        ctx.desk.acd.transfer_to_queue(call_id, to_queue)
    else:
        assert to_agent is not None
        target = ctx.desk.acd.agent_by_username(to_agent)
        if target is None:
            raise ApiError(
                409, "agent_not_available", f"{to_agent} is not logged in", field="to_agent"
            )
        ctx.desk.acd.transfer_to_agent(call_id, target.employee_id)
    return {}


def consult(ctx: Ctx) -> dict[str, Any]:
    call_id = req_str(ctx.body, "call_id", max_len=64)
    to_agent = req_str(ctx.body, "to_agent", max_len=64)
    _my_call(ctx, call_id)
    ctx.desk.controllers.command(call_id, "consult", agent=to_agent)
    return {}


def _consult_step(cmd: str) -> Any:
    def step(ctx: Ctx) -> dict[str, Any]:
        call_id = req_str(ctx.body, "call_id", max_len=64)
        live = ctx.desk.acd.agent(ctx.me.employee_id, fresh=True)
        if not _offered_to_me(ctx, call_id) and (live is None or live.call_id != call_id):
            raise ApiError(403, "forbidden", f"this agent is not on call {call_id}")
        ctx.desk.controllers.command(call_id, cmd)
        return {}

    return step


def _recording_step(op: str) -> Any:
    """POST /api/recording/<op>: start (under `name`), pause, resume or stop recording
    the agent's call through the ACD, which refuses outside an answered call
    (409 call_not_talking) or in the wrong state (409 invalid_transition)."""

    def step(ctx: Ctx) -> dict[str, Any]:
        name = ""
        if op == "start":
            name = req_str(ctx.body, "name", max_len=RECORDING_NAME_MAX)
        me = ctx.me
        ref, state = ctx.desk.acd.control_recording(me.employee_id, me.acd_session, op, name)
        log.info("recording %s by %s: ref %s, now %s", op, me.username, ref, state)
        return {"ref": ref, "recording": state}

    return step


def play_message(ctx: Ctx) -> dict[str, Any]:
    """R-AG-8: the caller hears `text` twice, then the call ends; the agent is off the
    call at once (wrap-up)."""
    text = req_str(ctx.body, "text", max_len=MESSAGE_TEXT_MAX)
    language = opt_str(ctx.body, "language", max_len=8) or ""
    if language and language not in MESSAGE_LANGUAGES:
        raise ApiError(422, "invalid", 'language: "zh" or "en"', field="language")
    me = ctx.me
    call_id = ctx.desk.acd.play_message(me.employee_id, me.acd_session, text, language)
    log.info("play-message on call %s by %s (%s)", call_id, me.username, language or "queue's")
    return {"call_id": call_id}


def _message_id(ctx: Ctx) -> str:
    raw = str(ctx.request.path_params["message_id"])
    if not _MESSAGE_ID.match(raw):
        raise ApiError(404, "unknown_message", f"no voicemail message {raw!r}")
    return raw


def _voicemail_message(message: Any) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "box": message.box,
        "caller": message.caller,
        "received_at": datetime.fromtimestamp(message.received_at, UTC).isoformat(),
        "duration_ms": int(message.duration_ms),
        "heard": bool(message.heard),
        "call_id": message.call_id,
    }


def list_voicemail(ctx: Ctx) -> dict[str, Any]:
    """The messages of the boxes this agent may see (its own, its queues'); `box=`
    narrows to one, `include_heard=1` adds the heard ones."""
    box = (ctx.query("box") or "").strip()
    if len(box) > _BOX_MAX:
        raise ApiError(422, "invalid", f"box: at most {_BOX_MAX} characters", field="box")
    include_heard = (ctx.query("include_heard") or "") in ("1", "true")
    me = ctx.me
    messages = ctx.desk.acd.list_voicemail(
        me.employee_id, me.acd_session, box=box, include_heard=include_heard
    )
    return {"messages": [_voicemail_message(m) for m in messages]}


def voicemail_audio(ctx: Ctx) -> Response:
    """The message's WAV (GetVoicemailAudio), for the tab's <audio> player."""
    message_id = _message_id(ctx)
    me = ctx.me
    wav = ctx.desk.acd.voicemail_audio(me.employee_id, me.acd_session, message_id)
    return Response(
        wav,
        media_type="audio/wav",
        headers={"Content-Disposition": f'inline; filename="{message_id}.wav"'},
    )


def voicemail_heard(ctx: Ctx) -> dict[str, Any]:
    me = ctx.me
    ctx.desk.acd.mark_voicemail_heard(me.employee_id, me.acd_session, _message_id(ctx))
    return {}


def voicemail_delete(ctx: Ctx) -> None:
    me = ctx.me
    ctx.desk.acd.delete_voicemail(me.employee_id, me.acd_session, _message_id(ctx))


def history(ctx: Ctx) -> dict[str, Any]:
    limit = req_int(ctx.query("limit") or 50, "limit", low=1, high=500)
    username = ctx.me.username
    wanted = ctx.query("employee_id")
    if wanted is not None:
        employee_id = req_int(wanted, "employee_id")
        if employee_id != ctx.me.employee_id:
            if not ctx.me.is_supervisor:
                raise ApiError(403, "forbidden", "an agent reads only its own history")
            username = _username_of(ctx, employee_id)
    return {"calls": agent_history(ctx.desk.settings.analytics_url, username, limit)}


def _username_of(ctx: Ctx, employee_id: int) -> str:
    """The account with this employee ID (the CDRs name agents by account)."""
    for account in ctx.desk.settings.config.accounts:
        if account.numeric_employee_id == employee_id:
            return account.username
    live = ctx.desk.acd.agent(employee_id)
    if live is None:
        raise ApiError(404, "not_found", f"no agent with employee ID {employee_id}")
    return live.username


def page_config(ctx: Ctx) -> dict[str, Any]:
    desktop = ctx.desk.settings.desktop
    return {
        "wrap_up_codes": [c.model_dump() for c in desktop.wrap_up_codes],
        "busy_reasons": list(desktop.busy_reasons),
        "ticket_units": [u.model_dump() for u in desktop.ticket_units],
        "screen_pop": "url" if desktop.screen_pop_url else "builtin",
    }


def agent_routes() -> list[Route]:
    return [
        Route("/api/login", api(login, public=True), methods=["POST"]),
        Route("/api/session", api(get_session), methods=["GET"]),
        Route("/api/heartbeat", api(heartbeat), methods=["POST"]),
        Route("/api/logout", api(logout), methods=["POST"]),
        Route("/api/state", api(set_state), methods=["POST"]),
        Route("/api/wrapup", api(wrap_up, roles=("agent",)), methods=["POST"]),
        Route("/api/directory", api(directory), methods=["GET"]),
        Route("/api/transfer", api(transfer), methods=["POST"]),
        Route("/api/consult", api(consult), methods=["POST"]),
        Route("/api/consult/complete", api(_consult_step("complete_transfer")), methods=["POST"]),
        Route("/api/consult/cancel", api(_consult_step("cancel_consult")), methods=["POST"]),
        *(
            Route(f"/api/recording/{op}", api(_recording_step(op)), methods=["POST"])
            for op in RECORDING_OPS
        ),
        Route("/api/play-message", api(play_message), methods=["POST"]),
        Route("/api/voicemail", api(list_voicemail), methods=["GET"]),
        Route("/api/voicemail/{message_id}/audio", api(voicemail_audio), methods=["GET"]),
        Route("/api/voicemail/{message_id}/heard", api(voicemail_heard), methods=["POST"]),
        Route("/api/voicemail/{message_id}", api(voicemail_delete), methods=["DELETE"]),
        Route("/api/history", api(history), methods=["GET"]),
        Route("/api/config", api(page_config), methods=["GET"]),
    ]
