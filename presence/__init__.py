"""Phone presence: Kamailio's registrations reported to the ACD (docs/presence.md).

An agent whose phone unregisters, or stops answering Kamailio's keepalive OPTIONS
(and so drops out of the location table), is reported unreachable with the ACD's
SetPhonePresence, which makes the agent not ready; a phone that registers again is
reported reachable. `python -m presence` runs the watcher, and, with the event log,
lights the phones' message-waiting lamps when voicemail changes (`_mwi.py`).
"""

from presence._dump import Contact, DumpFormatError, registered_contacts, registered_users
from presence._fifo import KamailioRpc, KamailioRpcError
from presence._kamailio import (
    PRESENCE_DAEMON,
    PresenceSetupError,
    kamailio_template_values,
    presence_argv,
    presence_describe,
    presence_healthy,
    presence_wanted,
    rpc_fifo,
    status_file,
)
from presence._tracker import Change, changes

__all__ = [
    "PRESENCE_DAEMON",
    "Change",
    "Contact",
    "DumpFormatError",
    "KamailioRpc",
    "KamailioRpcError",
    "PresenceSetupError",
    "changes",
    "kamailio_template_values",
    "presence_argv",
    "presence_describe",
    "presence_healthy",
    "presence_wanted",
    "registered_contacts",
    "registered_users",
    "rpc_fifo",
    "status_file",
]
