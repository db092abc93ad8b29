"""The ACD's health probe: the standard grpc.health.v1 Check, no token needed."""

from __future__ import annotations

import grpc

from acd_api.health.v1 import health_pb2, health_pb2_grpc

__all__ = ["SERVICE_NAME", "health_ping"]

# The name a replica reports its serving status under (acdsvc's HealthServicer).
SERVICE_NAME = "acd.v1.AcdService"
_SERVING = health_pb2.HealthCheckResponse.SERVING


def health_ping(hostport: str, timeout: float = 1.0) -> bool:
    """True if the replica at hostport reports SERVING for the ACD service."""
    channel = grpc.insecure_channel(hostport)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=timeout)
        return bool(reply.status == _SERVING)
    except grpc.RpcError:
        return False
    finally:
        channel.close()
