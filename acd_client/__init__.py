"""The client side of the ACD service (acd.v1): what call controllers, the presence
watcher, simulators and dashboards need to talk to the replicas, without the server.

A client that fails over between replicas (`AcdClient`, `ActionFeed`), the service
token (`read_token`, `service_channel`), the health probe (`health_ping`), a call
controller's registry record (`ControllerRecord`), which the ACD's leader reads, and
monitoring's mode and state names (`monitor_mode`, `monitor_rows`).
"""

from ._client import LAST_COMMIT_HEADER, AcdClient, ActionFeed
from ._health import SERVICE_NAME, health_ping
from ._monitoring import (
    MONITOR_MODE_NAMES,
    MONITOR_STATE_NAMES,
    monitor_mode,
    monitor_rows,
    monitor_state,
)
from ._registry import (
    RECORD_VERSION,
    ControllerRecord,
    make_source,
    registry_key,
    split_source,
)
from ._token import AUTH_METADATA_KEY, TokenError, ensure_token_file, read_token, service_channel

__all__ = [
    "AUTH_METADATA_KEY",
    "LAST_COMMIT_HEADER",
    "MONITOR_MODE_NAMES",
    "MONITOR_STATE_NAMES",
    "RECORD_VERSION",
    "SERVICE_NAME",
    "AcdClient",
    "ActionFeed",
    "ControllerRecord",
    "TokenError",
    "ensure_token_file",
    "health_ping",
    "make_source",
    "monitor_mode",
    "monitor_rows",
    "monitor_state",
    "read_token",
    "registry_key",
    "service_channel",
    "split_source",
]
