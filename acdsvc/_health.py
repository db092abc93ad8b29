"""The standard grpc.health.v1 service (its probe is acd_client.health_ping)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from acd_api.health.v1 import health_pb2, health_pb2_grpc
from acd_client import SERVICE_NAME

__all__ = ["HealthServicer"]

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """SERVING while the replica can serve: it leads, or it knows a leader to forward to."""

    def __init__(self, serving: Callable[[], bool], stopping: Callable[[], bool]) -> None:
        self._serving = serving
        self._stopping = stopping

    def _status(self) -> health_pb2.HealthCheckResponse.ServingStatus:
        return _SERVING if self._serving() and not self._stopping() else _NOT_SERVING

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> health_pb2.HealthCheckResponse:
        if request.service not in ("", SERVICE_NAME):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=self._status())

    def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> Iterator[health_pb2.HealthCheckResponse]:
        last = None
        while context.is_active() and not self._stopping():
            status = (
                self._status()
                if request.service in ("", SERVICE_NAME)
                else health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            )
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            time.sleep(0.5)
