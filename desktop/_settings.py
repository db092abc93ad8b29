"""What the desktop process needs from the config, resolved once at start: addresses,
URLs, timeouts, the certificate's paths, the store's URL, and the accounts file that
gives the softphone its credential (re-read when it changes, as `callcenter account`
updates accounts without a restart)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from configuration import Account, CallCenterConfig, DesktopSection, load_config

__all__ = ["Accounts", "DesktopSettings", "settings_from_config"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DesktopSettings:
    config_path: Path
    config: CallCenterConfig
    desktop: DesktopSection
    run_dir: Path
    cert: Path
    key: Path
    public_url: str
    wss_url: str
    realm: str
    acd_addresses: tuple[str, ...]
    acd_token_file: Path | None
    redis: str
    store_url: str
    store_password_env: str | None
    analytics_url: str | None
    controllers: tuple[str, ...]
    events_stream: str
    node: str

    @property
    def origin(self) -> str:
        """The Origin browsers send from the page: scheme://host[:port] of public_url."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    def wrap_up_ms(self, queue: str) -> int:
        for spec in self.config.queues:
            if spec.name == queue:
                return spec.wrap_up_ms
        return 0


def settings_from_config(
    config_path: Path,
    *,
    run_dir: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> DesktopSettings:
    """Settings from the config file. `run_dir` defaults to the config's node.run_dir
    (relative to the file); the certificate paths to `tls:` (relative to the file).
    `callcenter up` passes all three, since it runs the desktop on its runtime.json."""
    import bizdata  # noqa: PLC0415 - SQLAlchemy loads only when the desktop starts

    config_path = config_path.resolve()
    config = load_config(config_path)
    if config.desktop is None:
        raise ValueError(f"{config_path}: no `desktop:` section")
    if config.acd is None:
        raise ValueError(f"{config_path}: the desktop needs an `acd:` section")
    base = config_path.parent
    run = (run_dir or base / config.node.run_dir).resolve()
    desktop = config.desktop
    public_url = (desktop.public_url or f"https://{desktop.listen}").rstrip("/")
    if desktop.wss_url:
        wss_url = desktop.wss_url
    elif config.sip.wss_listen:
        wss_url = f"wss://{config.sip.wss_listen}"
    else:
        wss_url = ""
    token_file = config.acd.token_file
    if token_file is not None and not token_file.is_absolute():
        token_file = base / token_file
    return DesktopSettings(
        config_path=config_path,
        config=config,
        desktop=desktop,
        run_dir=run,
        cert=(cert or base / config.tls.cert).resolve(),
        key=(key or base / config.tls.key).resolve(),
        public_url=public_url,
        wss_url=wss_url,
        realm=config.sip.realm,
        acd_addresses=(config.acd.advertise or config.acd.listen,),
        acd_token_file=token_file,
        redis=config.redis.listen,
        store_url=bizdata.store_url(config.bizdata, run),
        store_password_env=config.bizdata.password_env if config.bizdata else None,
        analytics_url=config.analytics.url() if config.analytics else None,
        controllers=tuple(c.control for c in config.controllers),
        events_stream=config.acd.events_stream,
        node=f"{config.node.name}-desktop",
    )


class Accounts:
    """The config's accounts by username, re-read when the config file changes (the
    HA1 the softphone registers with, and the roles)."""

    def __init__(self, config_path: Path, config: CallCenterConfig) -> None:
        self._path = config_path
        self._lock = threading.Lock()
        self._mtime = self._stat()
        self._by_name = {a.username: a for a in config.accounts}

    def _stat(self) -> float:
        try:
            return self._path.stat().st_mtime
        except OSError:
            return 0.0

    def get(self, username: str) -> Account | None:
        with self._lock:
            mtime = self._stat()
            if mtime != self._mtime:
                try:
                    config = load_config(self._path)
                except Exception as exc:  # a bad edit: keep the last good accounts
                    log.warning("accounts not reloaded from %s: %s", self._path, exc)
                else:
                    self._by_name = {a.username: a for a in config.accounts}
                self._mtime = mtime
            return self._by_name.get(username)
