"""The CDR service's runtime file, argv and health probe.

The `analytics:` section of the main config is configuration's (`AnalyticsConfig`).
`callcenter up` writes a `ServiceSettings` file (`write_service_settings`) and starts
`daemon_argv(...)`, probing `health_probe(...)`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from configuration import AnalyticsConfig, HostPort, StrictModel


class ServiceSettings(StrictModel):
    """Everything the CDR service process needs; written by `callcenter up`."""

    analytics: AnalyticsConfig = AnalyticsConfig()
    redis: HostPort = "127.0.0.1:6379"
    # Base for relative paths (node.run_dir).
    run_dir: str = "."

    def data_dir(self) -> Path:
        path = Path(self.analytics.data_dir)
        return path if path.is_absolute() else Path(self.run_dir) / path


def write_service_settings(
    path: str | Path, analytics: AnalyticsConfig, *, redis: str, run_dir: str | Path
) -> Path:
    """Write the runtime file the daemon reads (JSON; run_dir made absolute)."""
    settings = ServiceSettings(
        analytics=analytics, redis=redis, run_dir=str(Path(run_dir).resolve())
    )
    target = Path(path)
    target.write_text(json.dumps(settings.model_dump(), indent=2) + "\n")
    return target


def load_service_settings(path: str | Path) -> ServiceSettings:
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # noqa: PLC0415  (only for hand-written files)

        return ServiceSettings.model_validate(yaml.safe_load(text))
    return ServiceSettings.model_validate_json(text)


def daemon_argv(settings_path: str | Path, *, python: str | None = None) -> list[str]:
    """argv for `callcenter up` (ProcessSpec("cdr", argv)). The process runs in the
    foreground, logs to stderr, and stops cleanly on SIGTERM."""
    return [
        python or sys.executable,
        "-m",
        "analytics.service",
        "--config",
        str(Path(settings_path).resolve()),
    ]


def health_probe(config: AnalyticsConfig, timeout: float = 0.5) -> Callable[[], bool]:
    """A zero-argument health check for `callcenter up`: GET /healthz answers ok."""
    from ._client import ServiceClient  # noqa: PLC0415  (keeps config import light)

    def probe() -> bool:
        return ServiceClient(config.url(), timeout=timeout).healthy()

    return probe
