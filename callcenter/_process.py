"""Start and stop the stack's daemons as plain subprocesses with PID files.

There is no init system or container engine to lean on (DESIGN.md), so each
daemon runs in the foreground under its own session, logs to run/log/NAME.log,
and `down` stops exactly the PIDs that `up` recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from configuration import RunLayout


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None


def start(layout: RunLayout, spec: ProcessSpec) -> int:
    """Spawn the daemon in its own session, output to its log; return its PID.

    posix_spawn rather than Popen: the daemon outlives this process by design,
    and a Popen object would warn about a child still running when collected.
    """
    log = str(layout.log_file(spec.name))
    env = {**os.environ, **(spec.env or {})}
    pid = os.posix_spawn(
        spec.argv[0],
        list(spec.argv),
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,  # survives the CLI exiting; stopped as a group
    )
    layout.pid_file(spec.name).write_text(f"{pid}\n")
    return pid


def read_pid(layout: RunLayout, name: str) -> int | None:
    try:
        return int(layout.pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop(layout: RunLayout, name: str, *, grace: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL after `grace` seconds. True if it was running."""
    pid = read_pid(layout, name)
    layout.pid_file(name).unlink(missing_ok=True)
    if pid is None or not is_alive(pid):
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def tail(layout: RunLayout, name: str, lines: int = 20) -> str:
    try:
        text = layout.log_file(name).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
