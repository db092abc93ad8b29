"""A real desktop over TLS on loopback (uvicorn in this process, so a test can shorten
its session times), on a real ACD replica, a real redis-server and a SQLite store."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
import yaml
from argon2 import PasswordHasher

import acdsvc
import bizdata
import desktop
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ensure_token_file, read_token
from configuration import load_config
from identity import sip_ha1
from simulators import free_port
from testbed import redis_server as start_redis
from testbed import wait_until

REALM = "desk.test"
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SUPERVISOR_EID = 900
WRAP_UP_MS = 60_000


def password_of(username: str) -> str:
    return f"pw-{username}-secret"


def _account(
    username: str, roles: list[str], eid: int | None, skills: dict[str, int]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "username": username,
        "roles": roles,
        "ha1": sip_ha1(username, REALM, password_of(username)),
        "password_hash": _FAST_HASHER.hash(password_of(username)),
        "skills": skills,
    }
    if eid is not None:
        entry["employee_id"] = str(eid)
    return entry


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def write_config(directory: Path, redis_port: int, desk_port: int) -> Path:
    accounts = [_account(f"a{eid}", ["agent"], eid, {"billing": 3}) for eid in range(1001, 1011)]
    accounts.append(_account("sup", ["agent", "supervisor"], SUPERVISOR_EID, {"billing": 5}))
    accounts.append(_account("root", ["admin"], None, {}))
    config = {
        "version": 1,
        "node": {"name": "desk", "run_dir": str(directory / "run")},
        "sip": {"realm": REALM, "wss_listen": "127.0.0.1:7443"},
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "redis": {"listen": f"127.0.0.1:{redis_port}", "managed": False},
        "queues": [
            {
                "name": "billing",
                "skills": {"billing": 1},
                "ring_timeout_ms": 20_000,
                "max_no_answers": 0,
                "wrap_up_ms": WRAP_UP_MS,
            },
            {"name": "repair", "skills": {"billing": 1}, "max_no_answers": 0},
        ],
        "acd": {
            "leader_lease_ms": 1000,
            "seat_range": [1, 2000],
            "employee_id_range": [1, 99_999],
            "call_events": "acd",
            "token_file": str(directory / "acd.token"),
            "reconcile_interval_ms": 0,
        },
        "bizdata": {"url": f"sqlite:///{directory / 'store.sqlite'}"},
        # Recording on demand and the voicemail RPCs (no recorder runs: the tests seed
        # the index through bizdata and write the WAVs under run/voicemail themselves).
        "recording": {"managed": False},
        "voicemail": {"boxes": {"billing": {"queue": "billing"}}},
        "tls": {"cert": str(directory / "server.crt"), "key": str(directory / "server.key")},
        "desktop": {"listen": f"127.0.0.1:{desk_port}", "session_idle_s": 60},
        "accounts": accounts,
    }
    path = directory / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


@dataclass
class Browser:
    """One page's HTTP side: its cookie jar (cc_session) and CSRF token."""

    address: str
    context: ssl.SSLContext
    cookie: str | None = None
    csrf: str | None = None
    last_set_cookie: str | None = field(default=None, repr=False)

    def request(self, method: str, path: str, body: Any = None, *, csrf: bool = True) -> Reply:
        host, port = self.address.split(":")
        conn = http.client.HTTPSConnection(host, int(port), context=self.context, timeout=10)
        headers = {"Content-Type": "application/json"}
        if self.cookie:
            headers["Cookie"] = f"cc_session={self.cookie}"
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        conn.request(method, path, None if body is None else json.dumps(body), headers)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        set_cookie = response.headers.get("set-cookie")
        if set_cookie:
            self.last_set_cookie = set_cookie
            value = set_cookie.split(";", 1)[0].split("=", 1)[1].strip('"')
            self.cookie = value or None
        data = (
            json.loads(raw)
            if raw and response.headers.get("content-type", "").startswith("application/json")
            else raw
        )
        return Reply(response.status, response.headers, data)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Reply:
        return self.request("POST", path, body if body is not None else {})

    def login(self, username: str, eid: int, seat: int, **extra: Any) -> Reply:
        body = {
            "username": username,
            "password": extra.pop("password", password_of(username)),
            "seat": seat,
            "employee_id": eid,
            "role": extra.pop("role", "agent"),
            "skills": extra.pop("skills", {}),
            **extra,
        }
        reply = self.request("POST", "/api/login", body, csrf=False)
        if reply.status == 200:
            self.csrf = reply.body["csrf_token"]
        return reply


@dataclass
class DeskStack:
    address: str
    origin: str
    context: ssl.SSLContext
    redis: redis.Redis
    acd: AcdClient
    config_path: Path
    app_desk: Any
    store_url: str

    def browser(self) -> Browser:
        return Browser(self.address, self.context)

    def logged_in(self, username: str, eid: int, seat: int, **extra: Any) -> Browser:
        page = self.browser()
        reply = page.login(username, eid, seat, **extra)
        assert reply.status == 200, reply.body
        return page


@pytest.fixture(scope="module")
def desktop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskStack]:
    directory = tmp_path_factory.mktemp("desk")
    cert, key = self_signed(directory)
    ensure_token_file(directory / "acd.token")
    with start_redis(directory / "redis") as redis_port:
        desk_port = free_port()
        config_path = write_config(directory, redis_port, desk_port)
        config = load_config(config_path)
        replica = acdsvc.Replica(
            acdsvc.settings_from_config(config, listen="127.0.0.1:0", node="r1")
        ).start()
        # The desktop dials the replica's bound port: put it into the config.
        data = yaml.safe_load(config_path.read_text())
        data["acd"]["listen"] = replica.address
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        settings = desktop.settings_from_config(config_path)
        bizdata.migrate(settings.store_url)
        static = directory / "static"
        static.mkdir()
        (static / "index.html").write_text("<!doctype html><title>desk</title>")
        (static / "app.js").write_text("console.log('desk');\n")
        app = desktop.create_app(settings, static_dir=static)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=desk_port,
                ssl_certfile=str(cert),
                ssl_keyfile=str(key),
                log_level="warning",
                ws="websockets-sansio",
                lifespan="on",
            )
        )
        thread = threading.Thread(target=server.run, name="desktop", daemon=True)
        thread.start()
        wait_until(lambda: server.started, timeout=20, what="desktop listening")
        context = ssl.create_default_context(cafile=str(cert))
        acd = AcdClient(replica.address, token=read_token(directory / "acd.token"))
        client = redis.Redis(host="127.0.0.1", port=redis_port)
        wait_until(lambda: app.state.desk.hub.subscribed, timeout=10, what="desk action feed")
        try:
            yield DeskStack(
                address=f"127.0.0.1:{desk_port}",
                origin=f"https://127.0.0.1:{desk_port}",
                context=context,
                redis=client,
                acd=acd,
                config_path=config_path,
                app_desk=app.state.desk,
                store_url=settings.store_url,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            acd.close()
            client.close()
            replica.stop(grace=0.2)


def agent_state(acd: AcdClient, eid: int) -> int | None:
    for agent in acd.get_snapshot().agents:
        if agent.employee_id == eid:
            return int(agent.state)
    return None


def enqueue(acd: AcdClient, call_id: str, caller: str, **call_data: str) -> pb.EnqueueResponse:
    request = pb.EnqueueRequest(call_id=call_id, queue="billing", caller=caller, category="billing")
    if call_data and "call_data" in pb.EnqueueRequest.DESCRIPTOR.fields_by_name:
        request.call_data.update(call_data)
    reply = acd.enqueue(request)
    assert reply.error.code == 0, reply.error.message
    return reply


def has_desk_store() -> bool:
    return hasattr(bizdata, "create_customer")
