"""The shared state in Redis: the core's records, the leader lease, and atomic commits.

Layout (prefix `acd:` by default):

- `acd:agents`  hash employee_id -> agent record JSON (the core's `AgentRecord.to_dict`)
- `acd:calls`   hash call_id -> call record JSON
- `acd:meta`    JSON: the core's counters and strategy memory
- `acd:epoch`   fencing token, incremented by every new leader
- `acd:leader`  "node|address|epoch" with a TTL: the leader's lease
- `acd:commits` stream, one entry per commit: the actions it produced (the change feed)
- `acd:ended`   sorted set call_id -> when it left the ACD, trimmed to the core's
                `ended_call_retention` (a retried Enqueue for an ended call is refused)
- `acd:monitors` hash session_id -> monitoring session JSON (`MonitorSession.to_dict`)

A commit is one Lua script: it checks the fencing token, writes the changed
records (a removed call also goes into `acd:ended`, trimmed there by score),
appends the call events to the event log stream and the actions to the commit
stream, all or nothing. A deposed leader's commit fails the check and
changes nothing. One script may carry several commands' changes (group commit);
each still gets its own commit-stream entry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

__all__ = ["Change", "Fenced", "LeaderInfo", "StateStore"]

_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local ids = {last[1] and last[1][1] or '0-0'}
for i, p in ipairs(cjson.decode(ARGV[2])) do
  for id, rec in pairs(p.agents_set) do redis.call('HSET', KEYS[2], id, rec) end
  for _, id in ipairs(p.agents_del) do redis.call('HDEL', KEYS[2], id) end
  for id, rec in pairs(p.calls_set) do redis.call('HSET', KEYS[3], id, rec) end
  for _, id in ipairs(p.calls_del) do redis.call('HDEL', KEYS[3], id) end
  for id, rec in pairs(p.monitors_set) do redis.call('HSET', KEYS[8], id, rec) end
  for _, id in ipairs(p.monitors_del) do redis.call('HDEL', KEYS[8], id) end
  for j = 1, #p.ended, 2 do redis.call('ZADD', KEYS[7], p.ended[j + 1], p.ended[j]) end
  for _, fields in ipairs(p.events) do redis.call('XADD', KEYS[6], '*', unpack(fields)) end
  ids[i + 1] = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*',
                      'epoch', ARGV[1], 'actions', p.actions)
end
redis.call('SET', KEYS[4], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', ARGV[5])
return ids
"""

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return epoch
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Fenced(Exception):
    """A newer leader exists: this replica's commit was refused and changed nothing."""


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    node: str
    address: str
    epoch: int
    value: str  # the lease value, which renew/release must match


@dataclass(slots=True)
class Change:
    """What one command changed: records to write or delete, and what it produced."""

    agents: dict[int, str | None] = field(default_factory=dict)  # JSON, or None: delete
    calls: dict[str, str | None] = field(default_factory=dict)
    # Monitoring sessions: session ID -> JSON, or None: delete.
    monitors: dict[str, str | None] = field(default_factory=dict)
    meta: str = "{}"
    # Calls this command removed: call id -> when (the core's `ended_at`), and the
    # core's `ended_cutoff()` after it (older ended calls are trimmed).
    ended: dict[str, float] = field(default_factory=dict)
    ended_cutoff: float = float("-inf")
    actions: list[dict[str, object]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)  # encoded event log entries


def _score(value: float) -> str:
    """A ZREMRANGEBYSCORE bound (inclusive)."""
    return "-inf" if value == float("-inf") else repr(value)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StateStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "acd:",
        events_stream: str = "cc:events",
        commits_maxlen: int = 100_000,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.events_stream = events_stream
        self.commits_maxlen = commits_maxlen
        self.commits_key = f"{prefix}commits"
        self.ended_key = f"{prefix}ended"
        self.monitors_key = f"{prefix}monitors"
        self._keys = [
            f"{prefix}epoch",
            f"{prefix}agents",
            f"{prefix}calls",
            f"{prefix}meta",
            self.commits_key,
            events_stream,
            self.ended_key,
            self.monitors_key,
        ]
        self._leader_key = f"{prefix}leader"
        self._commit = client.register_script(_COMMIT)
        # Commits go over a connection of their own, without redis-py's per-command
        # pool and retry layers: ~40 % less CPU per commit, and a commit whose reply
        # was lost is never re-sent (it would append its events twice).
        self._commit_conn: Any = None
        self._commit_conn_lock = threading.Lock()
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    # ------------------------------------------------------------------ state

    def load(self) -> dict[str, Any] | None:
        """The core's state as `Acd.to_dict()` data, or None if nothing was ever stored."""
        pipe = self.client.pipeline(transaction=True)  # one consistent read
        pipe.get(self._keys[3])
        pipe.hvals(self._keys[1])
        pipe.hvals(self._keys[2])
        pipe.zrange(self.ended_key, 0, -1, withscores=True)
        pipe.hvals(self.monitors_key)
        meta_raw, agents_raw, calls_raw, ended_raw, monitors_raw = pipe.execute()
        if meta_raw is None:
            return None
        meta: dict[str, Any] = json.loads(meta_raw)
        meta["agents"] = [json.loads(raw) for raw in agents_raw]
        meta["calls"] = [json.loads(raw) for raw in calls_raw]
        meta["ended"] = [[_text(cid), float(when)] for cid, when in ended_raw]
        meta["monitors"] = [json.loads(raw) for raw in monitors_raw]
        return meta

    def commit(self, epoch: int, change: Change) -> str:
        """Apply `change` atomically if `epoch` is still current; return the commit's id."""
        return self.commit_many(epoch, [change])[1][0]

    def commit_many(self, epoch: int, changes: Sequence[Change]) -> tuple[str, list[str]]:
        """Apply several commands' changes, in order, in one atomic script (group commit).

        Each change still gets its own entry in the commit stream (its commit id);
        all or none are applied, and none if `epoch` is no longer current. The
        meta written is the last change's (each carries the counters after its command).
        Returns the commit stream's last id before the batch, and the batch's ids.
        """
        if not changes:
            return "", []
        payload = [
            {
                "agents_set": {str(k): v for k, v in change.agents.items() if v is not None},
                "agents_del": [str(k) for k, v in change.agents.items() if v is None],
                "calls_set": {k: v for k, v in change.calls.items() if v is not None},
                "calls_del": [k for k, v in change.calls.items() if v is None],
                "monitors_set": {k: v for k, v in change.monitors.items() if v is not None},
                "monitors_del": [k for k, v in change.monitors.items() if v is None],
                # flat [id, score, ...]; scores as repr() text so Redis keeps the exact double
                "ended": [x for cid, when in change.ended.items() for x in (cid, repr(when))],
                "actions": json.dumps(change.actions, separators=(",", ":")),
                "events": [[x for kv in ev.items() for x in kv] for ev in change.events],
            }
            for change in changes
        ]
        # cjson decodes an empty JSON object and array alike; both iterate as empty.
        result = self._run_commit(
            [
                str(epoch),
                json.dumps(payload, separators=(",", ":")),
                self.commits_maxlen,
                changes[-1].meta,
                _score(changes[-1].ended_cutoff),
            ]
        )
        if result is None:
            raise Fenced(f"epoch {epoch} is no longer current")
        ids = [_text(r) for r in result]
        return ids[0], ids[1:]

    def _run_commit(self, args: list[Any]) -> Any:
        keys = self._keys
        with self._commit_conn_lock:
            conn = self._commit_conn
            if conn is None:
                conn = self._commit_conn = self.client.connection_pool.make_connection()
            try:
                try:
                    conn.send_command("EVALSHA", self._commit.sha, len(keys), *keys, *args)
                    return conn.read_response()
                except redis.exceptions.NoScriptError:  # a restarted Redis: EVAL caches it
                    conn.send_command("EVAL", _COMMIT, len(keys), *keys, *args)
                    return conn.read_response()
            except BaseException:
                conn.disconnect()  # reconnects on the next commit
                raise

    def close(self) -> None:
        with self._commit_conn_lock:
            if self._commit_conn is not None:
                self._commit_conn.disconnect()
                self._commit_conn = None

    def reset(self) -> None:
        """Forget all ACD state (tests and `--reset`); the event log is left alone."""
        self.client.delete(*self._keys[:5], self.ended_key, self.monitors_key, self._leader_key)

    # ------------------------------------------------------------------ leadership

    def try_acquire(self, node: str, address: str, ttl_ms: int) -> LeaderInfo | None:
        prefix = f"{node}|{address}"
        epoch = self._acquire(keys=[self._leader_key, self._keys[0]], args=[prefix, ttl_ms])
        if epoch is None:
            return None
        return LeaderInfo(node, address, int(epoch), f"{prefix}|{int(epoch)}")

    def renew(self, lease: LeaderInfo, ttl_ms: int) -> bool:
        return bool(self._renew(keys=[self._leader_key], args=[lease.value, ttl_ms]))

    def release(self, lease: LeaderInfo) -> None:
        self._release(keys=[self._leader_key], args=[lease.value])

    def leader(self) -> LeaderInfo | None:
        raw = self.client.get(self._leader_key)
        if raw is None:
            return None
        value = _text(raw)
        node, address, epoch = value.rsplit("|", 2) if value.count("|") >= 2 else ("", "", "0")
        return LeaderInfo(node, address, int(epoch), value)

    # ------------------------------------------------------------------ change feed

    def read_commits(
        self, after: str, *, block_ms: int | None, count: int = 500
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Commits after stream id `after` (blocking up to block_ms; None: not at all)."""
        reply: Any = self.client.xread({self.commits_key: after}, count=count, block=block_ms)
        return _entries(reply[0][1]) if reply else []

    def commits_between(
        self, after: str, *, count: int = 1000
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Commits after `after` (exclusive), oldest first, for resuming a watcher."""
        raw: Any = self.client.xrange(self.commits_key, f"({after}", "+", count=count)
        return _entries(raw)

    def last_commit_id(self) -> str:
        last: Any = self.client.xrevrange(self.commits_key, "+", "-", count=1)
        return _text(last[0][0]) if last else "0-0"


def _entries(
    raw: Sequence[tuple[object, Mapping[object, object]]],
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Stream entries as (id, actions); redis-py's reply types are too wide to be useful."""
    out = []
    for entry_id, fields in raw:
        decoded = {_text(k): _text(v) for k, v in fields.items()}
        out.append((_text(entry_id), json.loads(decoded.get("actions", "[]"))))
    return out
