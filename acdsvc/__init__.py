"""The ACD service: the `acd` core behind a versioned gRPC API (acd.v1), state in Redis.

Replicas share one Redis. One holds a leader lease (with a fencing epoch) and
runs every command against the core in memory, committing each change with its
events and actions in one Lua script; the others forward to it and fan out the
commit stream to their watchers. See docs/acd-service.md. The client is acd_client.
"""

from ._engine import Engine, NotLeader, Outcome, StoreUnavailable
from ._events import to_log_events
from ._reconciler import Reconciler
from ._replica import Replica, ReplicaError
from ._settings import AccountEntry, Settings, settings_from_config
from ._store import Change, Fenced, LeaderInfo, StateStore

__all__ = [
    "AccountEntry",
    "Change",
    "Engine",
    "Fenced",
    "LeaderInfo",
    "NotLeader",
    "Outcome",
    "Reconciler",
    "Replica",
    "ReplicaError",
    "Settings",
    "StateStore",
    "StoreUnavailable",
    "settings_from_config",
    "to_log_events",
]
