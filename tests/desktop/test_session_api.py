"""The desktop's session, state and scope routes against a real ACD over TLS: every
refusal with its contract code, cookies' flags, the security headers, expiry."""

from __future__ import annotations

import pytest

from acd_api.v1 import acd_pb2 as pb
from desktop._sessions import KEY_PREFIX
from identity import sip_ha1
from testbed import wait_until
from tests.desktop.conftest import REALM, SUPERVISOR_EID, DeskStack, password_of


def test_login_sets_a_strict_cookie_and_returns_the_softphone_credential(
    desktop_server: DeskStack,
) -> None:
    page = desktop_server.browser()
    reply = page.login("a1001", 1001, 1, skills={"billing": 2})
    assert reply.status == 200, reply.body
    flags = {part.strip().lower() for part in (page.last_set_cookie or "").split(";")}
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags
    session = reply.body
    assert session["agent"] == {
        "username": "a1001",
        "employee_id": 1001,
        "seat": 1,
        "role": "agent",
        "skills": {"billing": 2},
        "display": "a1001",
    }
    assert session["state"] == "idle" and session["lease_seconds"] > 0
    assert session["sip"] == {
        "wss_url": "wss://127.0.0.1:7443",
        "uri": f"sip:a1001@{REALM}",
        "realm": REALM,
        "ha1": sip_ha1("a1001", REALM, password_of("a1001")),
    }
    assert "password" not in str(session)
    # A reload: the same session, the ACD's lease going on.
    again = page.get("/api/session")
    assert again.status == 200 and again.body["csrf_token"] == session["csrf_token"]
    assert again.headers["cache-control"] == "no-store"
    assert page.post("/api/logout").body == {"deferred": False}


def test_every_reply_has_the_security_headers(desktop_server: DeskStack) -> None:
    reply = desktop_server.browser().get("/api/session")
    assert reply.status == 401 and reply.code == "no_session"
    csp = reply.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "wss://127.0.0.1:7443" in csp and "media-src 'self' blob: mediastream:" in csp
    assert "frame-ancestors 'none'" in csp
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("login", "status", "code"),
    [
        ({"password": "wrong"}, 401, "bad_credentials"),
        ({"username": "nobody", "password": "x"}, 401, "bad_credentials"),
        ({"skills": {"repair": 1}}, 403, "skill_not_allowed"),
        ({"seat": 5000}, 422, "seat_out_of_range"),
        ({"employee_id": 123_456}, 422, "employee_id_out_of_range"),
        ({"role": "supervisor"}, 422, "role_invalid"),
        ({"role": "admin"}, 422, "role_invalid"),
        ({"seat": "x"}, 422, "invalid"),
        ({"skills": {"billing": 0}}, 422, "invalid"),
    ],
)
def test_login_refusals_carry_the_contract_code(
    desktop_server: DeskStack, login: dict[str, object], status: int, code: str
) -> None:
    args: dict[str, object] = {"username": "a1002", "eid": 1002, "seat": 2} | login
    page = desktop_server.browser()
    reply = page.login(str(args.pop("username")), args.pop("eid"), args.pop("seat"), **args)  # type: ignore[arg-type]
    assert (reply.status, reply.code) == (status, code), reply.body
    assert reply.body["error"]["message"]
    assert page.cookie is None


def test_duplicate_employee_and_taken_seat_are_refused(desktop_server: DeskStack) -> None:
    first = desktop_server.logged_in("a1003", 1003, 3)
    again = desktop_server.browser().login("a1003", 1003, 4)
    assert (again.status, again.code) == (409, "already_logged_in")
    seat = desktop_server.browser().login("a1004", 1004, 3)
    assert (seat.status, seat.code) == (409, "seat_taken")
    first.post("/api/logout")


def test_failed_logins_are_rate_limited_per_username_and_address(
    desktop_server: DeskStack,
) -> None:
    page = desktop_server.browser()
    limit = desktop_server.app_desk.limiter.max_failures
    for _ in range(limit):
        assert page.login("a1009", 1009, 9, password="guess").code == "bad_credentials"
    blocked = page.login("a1009", 1009, 9)  # even the right password, for a while
    assert (blocked.status, blocked.code) == (429, "too_many_attempts")
    desktop_server.app_desk.limiter.succeeded("a1009", "127.0.0.1")
    ok = page.login("a1009", 1009, 9)
    assert ok.status == 200
    page.post("/api/logout")


def test_csrf_token_is_required_on_every_change(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1005", 1005, 5)
    token = page.csrf
    no_header = page.request("POST", "/api/state", {"state": "busy", "reason": "break"}, csrf=False)
    assert (no_header.status, no_header.code) == (403, "csrf")
    page.csrf = "x" * len(token or "")
    assert page.post("/api/heartbeat").code == "csrf"
    page.csrf = token
    assert page.get("/api/session").status == 200  # a GET needs none
    assert page.post("/api/logout").status == 200


def test_state_heartbeat_and_logout(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1006", 1006, 6, start_busy=True)
    assert page.get("/api/session").body["state"] == "busy"
    assert page.post("/api/state", {"state": "idle"}).body == {"state": "idle"}
    busy = page.post("/api/state", {"state": "busy", "reason": "meal"})
    assert busy.body == {"state": "busy"}
    bad = page.post("/api/state", {"state": "busy", "reason": "nap"})
    assert (bad.status, bad.code, bad.body["error"]["field"]) == (422, "invalid", "reason")
    assert page.post("/api/state", {"state": "talking"}).code == "invalid"
    beat = page.post("/api/heartbeat")
    assert beat.status == 200 and beat.body["state"] == "busy" and beat.body["lease_seconds"] > 0
    out = page.post("/api/logout")
    assert out.body == {"deferred": False}
    assert page.cookie is None
    assert page.get("/api/session").code == "no_session"


def test_an_acd_logout_ends_the_web_session(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1007", 1007, 7)
    sid = page.cookie
    reply = desktop_server.acd.force_logout(
        pb.ForceLogoutRequest(
            actor=pb.Actor(
                admin=pb.AdminCredentials(username="root", password=password_of("root"))
            ),
            employee_id=1007,
        )
    )
    assert reply.error.code == 0, reply.error.message
    beat = page.post("/api/heartbeat")
    assert (beat.status, beat.code) == (401, "no_session")
    assert not desktop_server.redis.exists(KEY_PREFIX + str(sid))


def test_sessions_expire_when_idle_and_at_their_absolute_end(desktop_server: DeskStack) -> None:
    sessions = desktop_server.app_desk.sessions
    idle_s, max_s = sessions.idle_s, sessions.max_s
    sessions.idle_s, sessions.max_s = 1, 3
    try:
        idle = desktop_server.logged_in("a1008", 1008, 8)
        key = KEY_PREFIX + str(idle.cookie)
        wait_until(lambda: not desktop_server.redis.exists(key), timeout=5, what="idle expiry")
        assert idle.get("/api/session").code == "no_session"
        # The ACD still has the desk (its lease runs on its own): log it out there.
        busy = desktop_server.logged_in("a1010", 1010, 10)
        # Heartbeats renew the idle expiry, never past the absolute end.
        wait_until(
            lambda: busy.post("/api/heartbeat").status == 401, timeout=8, what="absolute expiry"
        )
    finally:
        sessions.idle_s, sessions.max_s = idle_s, max_s
    admin = pb.Actor(admin=pb.AdminCredentials(username="root", password=password_of("root")))
    for eid in (1008, 1010):
        desktop_server.acd.force_logout(pb.ForceLogoutRequest(actor=admin, employee_id=eid))


def test_roles_and_scope(desktop_server: DeskStack) -> None:
    sup = desktop_server.logged_in("sup", SUPERVISOR_EID, 90, role="supervisor")
    for method, path in (
        ("GET", "/api/customers?q=ab"),
        ("GET", "/api/tickets"),
        ("GET", "/api/customers/1"),
    ):
        reply = sup.request(method, path)
        assert (reply.status, reply.code) == (403, "forbidden"), path
    wrap = sup.post("/api/wrapup", {"call_id": "c1", "code": "resolved"})
    assert (wrap.status, wrap.code) == (403, "forbidden")
    agent = desktop_server.logged_in("a1001", 1001, 1)
    other = agent.get(f"/api/history?employee_id={SUPERVISOR_EID}")
    assert (other.status, other.code) == (403, "forbidden")
    # The agent's own history: no CDR service in this config.
    assert agent.get("/api/history").code == "history_unavailable"
    # A supervisor may read another agent's.
    assert sup.get("/api/history?employee_id=1001").code == "history_unavailable"
    never = agent.post("/api/wrapup", {"call_id": "never-offered", "code": "resolved"})
    assert (never.status, never.code) == (403, "forbidden")
    bad_code = agent.post("/api/wrapup", {"call_id": "x", "code": "nope"})
    assert (bad_code.status, bad_code.code) == (422, "invalid")
    for path, body in (
        ("/api/transfer", {"call_id": "c9", "to_queue": "billing"}),
        ("/api/consult", {"call_id": "c9", "to_agent": "a1002"}),
        ("/api/consult/complete", {"call_id": "c9"}),
        ("/api/consult/cancel", {"call_id": "c9"}),
    ):
        reply = agent.post(path, body)
        assert (reply.status, reply.code) == (403, "forbidden"), path
    both = agent.post("/api/transfer", {"call_id": "c9", "to_queue": "billing", "to_agent": "x"})
    assert both.code == "invalid"
    agent.post("/api/logout")
    sup.post("/api/logout")


def test_directory_and_page_config(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1002", 1002, 2)
    other = desktop_server.logged_in("a1004", 1004, 4, start_busy=True)
    directory = page.get("/api/directory").body
    assert {"username": "a1004", "display": "a1004", "state": "busy"} in directory["agents"]
    assert all(a["username"] != "a1002" for a in directory["agents"])
    assert directory["queues"] == [{"name": "billing"}, {"name": "repair"}]
    config = page.get("/api/config").body
    assert next(c["code"] for c in config["wrap_up_codes"]) == "resolved"
    assert "break" in config["busy_reasons"] and config["screen_pop"] == "builtin"
    assert {u["code"]: u["overdue_after_h"] for u in config["ticket_units"]}["repair"] == 4
    page.post("/api/logout")
    other.post("/api/logout")


def test_unknown_paths_and_bad_bodies(desktop_server: DeskStack) -> None:
    page = desktop_server.browser()
    bad = page.request("POST", "/api/login", None, csrf=False)
    assert bad.code == "invalid"
    assert page.get("/api/nothing-here").status == 404


def test_the_page_and_its_files_are_served_with_revalidation(desktop_server: DeskStack) -> None:
    page = desktop_server.browser()
    index = page.get("/")
    assert index.status == 200 and b"<title>desk</title>" in index.body
    assert index.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in index.headers["content-security-policy"]
    script = page.get("/app.js")
    assert script.status == 200 and script.headers["etag"]
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
