"""The IVR on a real controller: rtpengine, the controller with `--ivr-flows` and
`--redis`, a redis-server for its events and state, sipp callers whose RTP is recorded
(tests/controller/ivr/). The flows are small ones written per test, with timers of
milliseconds."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

import prompts
from eventlog import Event, replay
from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import (
    Controller,
    Rtpengine,
    assert_clean,
    load_wav,
    received_pcm,
    redis_server,
    running_controller,
    track,
    wait_until,
)

NUMBER = "95598"
CLOSED_NUMBER = "95590"
NODE = "ctl-ivr"
CID_HEADER = "X-CC-Correlation-ID"

# A small flow: a welcome prompt, a one-key menu that times out at once, goodbye.
PROBE = """\
name: probe
languages: [zh, en]
start: welcome
prompts:
  hello:
    zh: 您好，欢迎致电华安电力。
    en: Hello.
  menu:
    zh: 请按1。
    en: Press 1.
  bye:
    zh: 再见。
    en: Goodbye.
nodes:
  welcome:
    type: play
    prompt: hello
    next: menu
  menu:
    type: menu
    prompt: menu
    choices: {1: bye}
    timeout_ms: 300
    retries: 0
    on_failure: bye
  bye:
    type: hangup
    prompt: bye
"""


@pytest.fixture(scope="module")
def events_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    with redis_server(tmp_path_factory.mktemp("ivr-redis")) as port:
        client = redis.Redis(port=port)
        yield client
        client.close()


@pytest.fixture(scope="module")
def prompt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the module's controllers: a prompt is rendered once."""
    return tmp_path_factory.mktemp("ivr-prompts")


@dataclass
class Caller:
    """A sipp caller (`acd_caller`: answered, takes re-INVITEs and the controller's BYE,
    hangs up when `hang_up` sends it a MESSAGE)."""

    run: SippRun
    port: int
    call_id: str

    def hang_up(self) -> None:
        message = (
            f"MESSAGE sip:party@127.0.0.1:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
            f"From: <sip:test@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:party@127.0.0.1>\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), ("127.0.0.1", self.port))


@dataclass
class IvrRig:
    workdir: Path
    engine: Rtpengine
    r: redis.Redis
    cache: Path
    flows: Path
    controller: Controller
    stream: str
    runs: list[SippRun] = field(default_factory=list)

    def events(self, cid: str) -> list[Event]:
        return [
            d.event for d in replay(self.r, stream=self.stream) if d.event.correlation_id == cid
        ]

    def kinds(self, cid: str) -> list[str]:
        return [e.kind for e in self.events(cid)]

    def of(self, cid: str, kind: str) -> list[dict[str, str]]:
        return [dict(e.data) for e in self.events(cid) if e.kind == kind]

    def wait_event(self, cid: str, kind: str, timeout: float = 10.0) -> dict[str, str]:
        wait_until(lambda: self.of(cid, kind), timeout=timeout, what=f"{kind} of {cid}")
        return self.of(cid, kind)[0]

    def caller(
        self,
        cid: str,
        rtp: RtpEndpoint,
        *,
        number: str = NUMBER,
        scenario: str = "acd_caller",
        keys: dict[str, str] | None = None,
        pause_ms: int | None = None,
    ) -> Caller:
        """`acd_caller` by default; another caller scenario takes its own `keys`."""
        port = free_port()
        all_keys: dict[str, str | int] = {
            "rtp_port": rtp.port,
            "cid": cid,
            "cidhdr": CID_HEADER,
            "category": "billing",
            **(keys or {}),
        }
        run = track(
            start_sipp(
                f"caller-{cid[:6]}",
                scenario,
                self.controller.sip,
                workdir=self.workdir / cid,
                port=port,
                service=number,
                keys=all_keys,
                pause_ms=pause_ms,
                extra=["-cid_str", f"caller-{cid}"],
                timeout_s=60,
            )
        )
        self.runs.append(run)
        return Caller(run, port, f"caller-{cid}")

    def prompt(self, text: str, language: str = "zh") -> Any:
        """The samples of a prompt as the controller renders it (same cache)."""
        return load_wav(prompts.render(text, language, self.cache))

    def heard(self, rtp: RtpEndpoint) -> Any:
        return received_pcm(rtp)

    def state_keys(self) -> list[bytes]:
        return list(self.r.scan_iter("ivr:session:*"))


def new_cid() -> str:
    return secrets.token_hex(16)


@contextmanager
def ivr_controller(
    workdir: Path,
    engine: Rtpengine,
    r: redis.Redis,
    cache: Path,
    *,
    flows: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    flow_for: str = f"{NUMBER}=probe",
    extra: tuple[str, ...] = (),
    parties: tuple[str, ...] = (),
) -> Iterator[IvrRig]:
    """`parties`: names (agents, external numbers) the controller reaches at fixed
    addresses (`--agents`), instead of through an edge."""
    flows_dir = workdir / "flows"
    flows_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (flows or {"probe": PROBE}).items():
        (flows_dir / f"{name}.yaml").write_text(text)
    args = ["--ivr-flows", str(flows_dir), "--ivr-prompt-cache", str(cache)]
    if flow_for:
        args += ["--ivr-for", flow_for]
    if settings is not None:
        path = workdir / "run" / "runtime.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
        args += ["--ivr-settings", str(path)]
    stream = f"cc:events:{secrets.token_hex(4)}"
    kwargs = r.connection_pool.connection_kwargs
    with running_controller(
        workdir,
        engine,
        parties,
        "--redis",
        f"{kwargs['host']}:{kwargs['port']}",
        "--node",
        NODE,
        "--event-stream",
        stream,
        *args,
        *extra,
    ) as running:
        yield IvrRig(workdir, engine, r, cache, flows_dir, running, stream)
        assert_clean(running, engine)
        running.close()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        assert "Traceback" not in running.log_text(), running.log_text()[-3000:]


@pytest.fixture
def rig(
    workdir: Path, engine: Rtpengine, events_redis: redis.Redis, prompt_cache: Path
) -> Iterator[IvrRig]:
    with ivr_controller(workdir, engine, events_redis, prompt_cache) as running:
        yield running


RigFactory = Callable[..., Any]
