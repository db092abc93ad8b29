"""How `callcenter up` runs the desktop and knows it is up: the command line and the
health probe (stdlib only, so the supervisor does not load Starlette)."""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from pathlib import Path

__all__ = ["desktop_argv", "desktop_healthy"]


def desktop_argv(config: Path, *, run_dir: Path, cert: Path, key: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "desktop",
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
        "--cert",
        str(cert),
        "--key",
        str(key),
    ]


def desktop_healthy(listen: str, timeout: float = 0.5) -> bool:
    """GET https://<listen>/healthz answers ok. The probe runs on the same host as the
    process, so it skips certificate checks (a self-signed demo certificate, a real
    one issued for a public name)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(
            f"https://{listen}/healthz", timeout=timeout, context=context
        ) as response:
            return bool(response.status == 200 and json.loads(response.read()).get("ok"))
    except (OSError, ValueError):
        return False
