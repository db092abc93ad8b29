"""Everything a request handler needs, built once per process: the settings, Redis
(sessions, login limits, offered calls), the ACD, the store, the controllers, the
event hub."""

from __future__ import annotations

import redis

from acd_client import read_token
from configuration import split_hostport

from ._acd import AcdDesk
from ._controllers import ControllerLink
from ._events import EventHub
from ._records import Records
from ._sessions import LoginLimiter, SessionStore
from ._settings import Accounts, DesktopSettings

__all__ = ["Desk"]


class Desk:
    def __init__(self, settings: DesktopSettings) -> None:
        self.settings = settings
        host, port = split_hostport(settings.redis)
        self.redis = redis.Redis(host=host, port=port, socket_timeout=2.0)
        desktop = settings.desktop
        self.sessions = SessionStore(
            self.redis, idle_s=desktop.session_idle_s, max_s=desktop.session_max_s
        )
        self.limiter = LoginLimiter(self.redis)
        token = read_token(settings.acd_token_file) if settings.acd_token_file else None
        self.acd = AcdDesk(settings.acd_addresses, token=token)
        self.records = Records(settings.store_url, password_env=settings.store_password_env)
        self.controllers = ControllerLink(settings.controllers)
        self.accounts = Accounts(settings.config_path, settings.config)
        self.hub = EventHub(
            self.acd.client,
            self.redis,
            customer_for_call=lambda account, caller: self.records.customer_for_call(
                account=account, caller=caller
            ),
            screen_pop_url=desktop.screen_pop_url,
            wrap_up_ms=settings.wrap_up_ms,
        )

    def close(self) -> None:
        self.hub.stop()
        self.acd.close()
        self.records.close()
        self.redis.close()
