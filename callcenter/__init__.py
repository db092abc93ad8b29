"""The call center's local runtime: the CLI, process supervision and the demo.

The top of the layers: it starts every other package's process. The config schema
it reads is `configuration`'s.
"""

from callcenter._accounts import account_entry
from callcenter._health import sip_options_ping
from callcenter._process import ProcessSpec, is_alive, read_pid
from callcenter._process import start as start_process
from callcenter._process import tail as log_tail
from callcenter._secrets import SecretsError, WrittenSecrets, write_secrets
from callcenter._stack import StackError, acd_token, down, layout_for, status, up
from callcenter._tools import kamailio_module_path, require_binary

__all__ = [
    "ProcessSpec",
    "SecretsError",
    "StackError",
    "WrittenSecrets",
    "account_entry",
    "acd_token",
    "down",
    "is_alive",
    "kamailio_module_path",
    "layout_for",
    "log_tail",
    "read_pid",
    "require_binary",
    "sip_options_ping",
    "start_process",
    "status",
    "up",
    "write_secrets",
]
