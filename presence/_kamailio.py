"""What `callcenter up` needs for presence: Kamailio's template values, the watcher's argv
and its health probe. Kept here so callcenter/_stack.py only wires them in.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from presence._fifo import MAX_REPLY_PATH, REPLY_NAME_LENGTH

if TYPE_CHECKING:
    from configuration import CallCenterConfig, RunLayout

__all__ = [
    "PRESENCE_DAEMON",
    "PresenceSetupError",
    "kamailio_template_values",
    "presence_argv",
    "presence_describe",
    "presence_healthy",
    "presence_wanted",
    "rpc_fifo",
    "status_file",
]

PRESENCE_DAEMON = "presence"  # its PID and log file names in the run directory
# usrloc's timer also removes expired contacts; keep Kamailio's default when nothing pings.
USRLOC_DEFAULT_TIMER_S = 60
# The watcher counts as healthy while its last Kamailio read is this many polls old at most.
HEALTHY_POLLS = 3


class PresenceSetupError(ValueError):
    """The run directory cannot host Kamailio's RPC FIFO (the message says why)."""


def rpc_dir(layout: RunLayout) -> Path:
    """The request FIFO and the reply FIFOs live here: Kamailio's fifo_reply_dir."""
    return layout.root / "rpc"


def rpc_fifo(layout: RunLayout) -> Path:
    return rpc_dir(layout) / "kamailio.fifo"


def status_file(layout: RunLayout) -> Path:
    return layout.root / "presence.json"


def kamailio_template_values(
    config: CallCenterConfig, layout: RunLayout, *, create_dirs: bool = True
) -> dict[str, object]:
    """The kamailio.cfg.tmpl values for the phone keepalive and the JSON-RPC FIFO.

    Creates the RPC directory: jsonrpcs refuses to start when its fifo_reply_dir does
    not exist. create_dirs=False only checks the paths (`callcenter check-config`).
    """
    reply_dir = str(rpc_dir(layout)) + "/"  # jsonrpcs appends reply_name to it verbatim
    if len(reply_dir) + REPLY_NAME_LENGTH > MAX_REPLY_PATH:
        longest = MAX_REPLY_PATH - REPLY_NAME_LENGTH - (len(reply_dir) - len(str(layout.root)))
        raise PresenceSetupError(
            f"node.run_dir: {layout.root} ({len(str(layout.root))} characters) is too long "
            f"for Kamailio's RPC replies: jsonrpcs takes reply FIFO paths of at most "
            f"{MAX_REPLY_PATH} characters, so the run directory may have at most {longest}"
        )
    if create_dirs:
        rpc_dir(layout).mkdir(mode=0o700, parents=True, exist_ok=True)
    interval = config.sip.phone_keepalive_s
    return {
        "usrloc_timer_s": interval or USRLOC_DEFAULT_TIMER_S,
        "phone_keepalive_mode": 1 if interval else 0,  # 1: every contact (we are UDP only)
        "phone_keepalive_timeout_s": config.sip.phone_keepalive_timeout_s if interval else 0,
        "phone_keepalive_from": f"sip:keepalive@{config.sip.realm}",
        "rpc_fifo": rpc_fifo(layout),
        "rpc_reply_dir": reply_dir,
    }


def presence_wanted(config: CallCenterConfig) -> bool:
    """One watcher per node, beside Kamailio, whenever there is an ACD to tell."""
    return config.acd is not None and config.presence.managed


def acd_address(config: CallCenterConfig) -> str:
    assert config.acd is not None
    return config.acd.advertise or config.acd.listen


def presence_argv(config: CallCenterConfig, layout: RunLayout) -> list[str]:
    return [
        sys.executable,
        "-m",
        "presence",
        "--kamailio-rpc",
        str(rpc_fifo(layout)),
        "--acd",
        acd_address(config),
        "--config",
        str(layout.runtime_config),
        "--interval",
        str(config.presence.poll_ms / 1000),
        "--status-file",
        str(status_file(layout)),
        # Message-waiting lamps: voicemail changes from the event log (docs/presence.md).
        *(
            ["--redis", config.redis.listen, "--node", f"{config.node.name}"]
            if config.bizdata
            else []
        ),
    ]


def presence_describe(config: CallCenterConfig, layout: RunLayout) -> str:
    return f"presence {rpc_fifo(layout)} -> acd {acd_address(config)}"


def presence_healthy(config: CallCenterConfig, layout: RunLayout) -> bool:
    """Healthy: the watcher read Kamailio's registrations within the last few polls.

    The watcher rewrites its status file after every poll; a stale file means a wedged
    loop, a failing read means Kamailio's RPC is down. ACD trouble shows on the ACD's
    own line (the watcher retries it every poll and says so in its log).
    """
    try:
        status = json.loads(status_file(layout).read_text())
        pid = int(layout.pid_file(PRESENCE_DAEMON).read_text().strip())
        kamailio_ok, updated = bool(status["kamailio_ok"]), float(status["updated"])
        writer = int(status["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    max_age = max(HEALTHY_POLLS * config.presence.poll_ms / 1000, 3.0)
    # The pid check: a file left by the previous run says nothing about this one.
    return writer == pid and kamailio_ok and time.time() - updated <= max_age
