"""The call center's local runtime: the CLI, process supervision and the demo.

The top of the layers: it starts every other package's process. The config schema
it reads is `configuration`'s.
"""

from callcenter._health import sip_options_ping
from callcenter._stack import StackError, acd_token, down, layout_for, status, up
from callcenter._tools import kamailio_module_path, require_binary

__all__ = [
    "StackError",
    "acd_token",
    "down",
    "kamailio_module_path",
    "layout_for",
    "require_binary",
    "sip_options_ping",
    "status",
    "up",
]
