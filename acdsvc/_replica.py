"""One ACD replica: gRPC server, leader election, ticker and change feed, wired together."""

from __future__ import annotations

import logging
import threading
from concurrent import futures

import grpc
import redis

import eventlog
from acd_api.health.v1 import health_pb2_grpc
from acd_api.v1 import acd_pb2_grpc
from configuration import join_hostport, split_hostport

from ._auth import token_interceptor
from ._engine import Engine
from ._fanout import Fanout
from ._forward import Forwarder
from ._health import HealthServicer
from ._leadership import Leadership
from ._reconciler import Reconciler
from ._servicer import AcdServicer
from ._settings import Settings
from ._store import StateStore
from ._ticker import Ticker
from ._voicemail import Voicemail

__all__ = ["Replica", "ReplicaError"]

log = logging.getLogger(__name__)


class ReplicaError(Exception):
    """The replica cannot start (port taken, Redis unreachable...)."""


class Replica:
    def __init__(
        self,
        settings: Settings,
        *,
        verify_commits: bool = False,
        commits_maxlen: int = 100_000,
    ) -> None:
        self.settings = settings
        host, port = split_hostport(settings.redis)
        self._redis = redis.Redis(
            host=host,
            port=port,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=10,
        )
        self.store = StateStore(
            self._redis,
            prefix=settings.section.redis_prefix,
            events_stream=settings.section.events_stream,
            commits_maxlen=commits_maxlen,
        )
        self.engine = Engine(settings, self.store, verify_commits=verify_commits)
        self.fanout = Fanout(self.store, local=lambda: self.engine.is_leader)
        self.engine.on_batch = self.fanout.publish
        self.stopping = threading.Event()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.section.workers, thread_name_prefix="acd-grpc"
            ),
            # A second server must not bind the same port silently (DESIGN.md).
            options=[("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=settings.section.workers * 4,
            interceptors=[] if settings.token is None else [token_interceptor(settings.token)],
        )
        if settings.token is None:
            log.warning(
                "acd.token_file is not set: anyone who reaches %s can drive calls", settings.listen
            )
        try:
            port_bound = self._server.add_insecure_port(settings.listen)
        except RuntimeError as exc:
            raise ReplicaError(f"cannot listen on {settings.listen}: {exc}") from exc
        if not port_bound:
            raise ReplicaError(f"cannot listen on {settings.listen} (in use?)")
        self.address = join_hostport(split_hostport(settings.listen)[0], port_bound)
        advertise = settings.advertise
        if advertise.endswith(":0"):
            advertise = join_hostport(split_hostport(advertise)[0], port_bound)
        self.advertise = advertise
        self.leadership = Leadership(
            self.engine,
            self.store,
            node=settings.node,
            address=advertise,
            lease_seconds=settings.leader_lease_seconds,
        )
        self._forwarder = Forwarder(
            self.leadership, own_address=advertise, node=settings.node, token=settings.token
        )
        self._ticker = Ticker(self.engine)
        section = settings.section
        # Ends the calls controller replicas lost (docs/acd-service.md, "Reconcile").
        self.reconciler: Reconciler | None = None
        if section.reconcile_interval_ms > 0:
            self.reconciler = Reconciler(
                self.engine,
                self._redis,
                prefix=section.redis_prefix,
                interval_s=section.reconcile_interval_ms / 1000,
                grace_s=section.reconcile_grace_ms / 1000,
            )
        # The voicemail RPCs' store and their events (voicemail.heard/deleted).
        self.voicemail = Voicemail(
            settings, eventlog.EventLog(self._redis, stream=settings.section.events_stream)
        )
        servicer = AcdServicer(
            settings,
            self.engine,
            self.fanout,
            self._forwarder,
            self.stopping,
            voicemail=self.voicemail,
        )
        acd_pb2_grpc.add_AcdServiceServicer_to_server(servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(
            HealthServicer(self._serving, self.stopping.is_set), self._server
        )

    def _serving(self) -> bool:
        return self.leadership.redis_ok and (
            self.engine.is_leader or self.leadership.leader is not None
        )

    def start(self) -> Replica:
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise ReplicaError(f"redis {self.settings.redis}: {exc}") from exc
        self.fanout.start()
        self.leadership.start()
        self._ticker.start()
        if self.reconciler is not None:
            self.reconciler.start()
        self._server.start()
        log.info(
            "ACD replica %s listening on %s (leader: %s)",
            self.settings.node,
            self.address,
            self.engine.is_leader,
        )
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Hand leadership over first, then drain the server."""
        self.stopping.set()
        if self.reconciler is not None:
            self.reconciler.stop()
        self.leadership.stop()
        self._ticker.stop()
        self._server.stop(grace).wait(grace + 1)
        self.fanout.stop()
        self._forwarder.close()
        self.store.close()
        self.voicemail.close()
        self._redis.close()

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self._server.wait_for_termination(timeout))
