"""Where the project is, and where a running stack keeps its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["PROJECT_ROOT", "RunLayout"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunLayout:
    """One run directory per stack: rendered configs, PID files, logs, data."""

    root: Path

    @property
    def pids(self) -> Path:
        return self.root / "pid"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def bizdata_db(self) -> Path:
        """The business data store's SQLite file, when `bizdata.url` is unset."""
        return self.data / "bizdata.sqlite"

    @property
    def runtime_config(self) -> Path:
        return self.root / "runtime.json"

    @property
    def cdr_settings(self) -> Path:
        return self.root / "cdr.json"

    @property
    def dashboard_settings(self) -> Path:
        return self.root / "dashboard.json"

    @property
    def acd_token(self) -> Path:
        """The ACD service token `callcenter up` generates when acd.token_file is unset."""
        return self.root / "secrets" / "acd-service.token"

    @property
    def kamailio_cfg(self) -> Path:
        return self.root / "kamailio.cfg"

    @property
    def kamailio_tls_cfg(self) -> Path:
        """The tls module's config (certificate and key of `tls:`), with sip.wss_listen."""
        return self.root / "kamailio-tls.cfg"

    @property
    def dispatcher_list(self) -> Path:
        """Kamailio dispatcher's destinations: set 1 = the call-controller replicas."""
        return self.root / "dispatcher.list"

    @property
    def kamailio_ctl(self) -> Path:
        return self.root / "kamailio.ctl"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def create(self) -> None:
        for path in (self.pids, self.logs, self.data):
            path.mkdir(parents=True, exist_ok=True)
