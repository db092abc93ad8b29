"""The ACD service: the `acd` core behind a versioned gRPC API (acd.v1), state in Redis.

Replicas share one Redis. One holds a leader lease (with a fencing epoch) and
runs every command against the core in memory, committing each change with its
events and actions in one Lua script; the others forward to it and fan out the
commit stream to their watchers. See docs/acd-service.md.
"""

from ._auth import TokenError, ensure_token_file, read_token, service_channel
from ._client import AcdClient, ActionFeed
from ._engine import Engine, NotLeader, Outcome, StoreUnavailable
from ._events import to_log_events
from ._health import SERVICE_NAME, health_ping
from ._reconciler import ControllerRecord, Reconciler, make_source, registry_key
from ._replica import Replica, ReplicaError
from ._settings import AccountEntry, Settings, settings_from_config
from ._store import Change, Fenced, LeaderInfo, StateStore

__all__ = [
    "SERVICE_NAME",
    "AccountEntry",
    "AcdClient",
    "ActionFeed",
    "Change",
    "ControllerRecord",
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
    "TokenError",
    "ensure_token_file",
    "health_ping",
    "make_source",
    "read_token",
    "registry_key",
    "service_channel",
    "settings_from_config",
    "to_log_events",
]
