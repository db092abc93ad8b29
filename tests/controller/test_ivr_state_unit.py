"""`RedisSnapshots` against a fake Redis client (the writer thread is real), and the
`drain` and `ivr` control commands against stand-ins."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import redis

from controller._commands import Commands
from controller._drain import Drain
from controller._ivr_state import RedisSnapshots
from testbed import wait_until


@dataclass
class FakeRedis:
    """Keys and TTLs; `down` makes every round trip fail; `gate` holds writes back."""

    data: dict[str, str] = field(default_factory=dict)
    ttl_ms: dict[str, int] = field(default_factory=dict)
    trips: int = 0
    down: bool = False
    gate: threading.Event = field(default_factory=threading.Event)

    def pipeline(self, transaction: bool = False) -> FakePipeline:
        return FakePipeline(self)


@dataclass
class FakePipeline:
    client: FakeRedis
    ops: list[tuple[str, str, str | None, int | None]] = field(default_factory=list)

    def set(self, key: str, value: str, px: int) -> None:
        self.ops.append(("set", key, value, px))

    def delete(self, key: str) -> None:
        self.ops.append(("del", key, None, None))

    def execute(self) -> list[Any]:
        self.client.gate.wait(5)
        self.client.trips += 1
        if self.client.down:
            raise redis.ConnectionError("Connection refused")
        for op, key, value, px in self.ops:
            if op == "set":
                assert value is not None and px is not None
                self.client.data[key], self.client.ttl_ms[key] = value, px
            else:
                self.client.data.pop(key, None)
        return []


def test_snapshots_are_written_with_a_ttl_and_deleted() -> None:
    client = FakeRedis()
    client.gate.set()
    store = RedisSnapshots(client, ttl_s=90)  # type: ignore[arg-type]
    try:
        store.save("c1", {"node": "menu", "session": {"path": ["welcome", "menu"]}})
        wait_until(lambda: "ivr:session:c1" in client.data, timeout=2, what="the write")
        assert json.loads(client.data["ivr:session:c1"])["node"] == "menu"
        assert client.ttl_ms["ivr:session:c1"] == 90_000
        store.delete("c1")
        wait_until(lambda: not client.data, timeout=2, what="the delete")
        assert store.stats()["written"] == 1 and store.stats()["deleted"] == 1
    finally:
        store.close()


def test_only_the_newest_state_of_a_call_is_written() -> None:
    client = FakeRedis()  # gate closed: writes wait
    store = RedisSnapshots(client)  # type: ignore[arg-type]
    try:
        store.save("c1", {"n": 1})
        wait_until(lambda: store.stats()["backlog"] == 0, timeout=2, what="the first taken")
        for n in range(2, 6):
            store.save("c1", {"n": n})
        store.save("c2", {"n": 1})
        store.delete("c2")
        client.gate.set()
        wait_until(
            lambda: store.stats()["backlog"] == 0 and client.trips == 2, timeout=2, what="writes"
        )
        assert json.loads(client.data["ivr:session:c1"]) == {"n": 5}
        assert "ivr:session:c2" not in client.data
    finally:
        store.close()


def test_while_redis_is_down_the_newest_states_wait_and_are_written_after() -> None:
    client = FakeRedis(down=True)
    client.gate.set()
    store = RedisSnapshots(client, max_backoff_s=0.05)  # type: ignore[arg-type]
    try:
        store.save("c1", {"n": 1})
        wait_until(lambda: store.stats()["errors"] >= 2, timeout=2, what="retries")
        store.save("c1", {"n": 2})
        client.down = False
        wait_until(lambda: "ivr:session:c1" in client.data, timeout=2, what="the write after")
        assert json.loads(client.data["ivr:session:c1"]) == {"n": 2}
    finally:
        store.close()


def _commands(calls: int = 0, ivr_calls: int = 0) -> Commands:
    service = SimpleNamespace(calls={f"c{i}": None for i in range(calls)})
    media = SimpleNamespace(list_calls=lambda: [])
    commands = Commands(service, media, lambda: {"dialogs": 0, "sip_consumers": 0})  # type: ignore[arg-type]
    commands.drain = Drain(clock=lambda: 1234.5)
    commands.ivr_calls = lambda: ivr_calls
    return commands


def test_drain_turns_on_and_off_and_status_shows_it_with_the_calls_left() -> None:
    commands = _commands(calls=3, ivr_calls=2)
    status = commands.execute({"cmd": "status"})["result"]
    assert (status["draining"], status["ivr_calls"], status["calls"]) == (False, 2, 3)
    reply = commands.execute({"cmd": "drain"})
    assert reply == {
        "ok": True,
        "result": {"draining": True, "since": 1234.5, "refused": 0, "calls": 3, "ivr_calls": 2},
    }
    assert commands.execute({"cmd": "status"})["result"]["draining"] is True
    assert commands.execute({"cmd": "drain", "on": False})["result"]["draining"] is False
    assert commands.execute({"cmd": "drain", "on": "yes"}) == {
        "ok": False,
        "error": "on must be true or false",
    }


def test_the_ivr_command_says_when_there_is_no_ivr() -> None:
    commands = _commands()
    assert commands.execute({"cmd": "ivr"}) == {"ok": True, "result": {"enabled": False}}
    commands.ivr_stats = lambda: {"flows": [], "in_progress": 0}
    assert commands.execute({"cmd": "ivr"})["result"] == {
        "enabled": True,
        "flows": [],
        "in_progress": 0,
    }
