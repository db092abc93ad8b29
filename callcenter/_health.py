"""Health probes: SIP OPTIONS to Kamailio, ng ping to rtpengine, PING to Redis,
the control socket's `status` to a call controller."""

from __future__ import annotations

import json
import secrets
import socket

import redis

from configuration import split_hostport
from rtpengine import NgClient


def sip_options_ping(hostport: str, timeout: float = 1.0) -> int | None:
    """Send one OPTIONS; return the reply's status code, or None if nothing came back.

    A probe only: one request, one reply, no dialog; the SIP stack proper is Kamailio's.
    """
    host, port = split_hostport(hostport)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        local_host, local_port = sock.getsockname()[:2]
        tag = secrets.token_hex(6)
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 2\r\n"
            f"From: <sip:health@{local_host}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: health-{tag}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            sock.send(request.encode())
            reply = sock.recv(65535).decode(errors="replace")
        except OSError:
            return None
    parts = reply.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("SIP/2.0"):
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


def ng_ping(hostport: str, timeout: float = 1.0) -> bool:
    client = NgClient(*split_hostport(hostport), timeout=timeout)
    try:
        return client.ping()
    finally:
        client.close()


def redis_ping(hostport: str, timeout: float = 1.0) -> bool:
    host, port = split_hostport(hostport)
    client = redis.Redis(
        host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def controller_status(hostport: str, timeout: float = 1.0) -> bool:
    """Ask a call controller's control socket for `status`: healthy when it replies ok.

    Unlike an OPTIONS (answered by Sippy's transaction layer), the reply comes from
    the controller's event loop, so a wedged loop fails the probe.
    """
    try:
        with socket.create_connection(split_hostport(hostport), timeout=timeout) as sock:
            sock.sendall(b'{"cmd": "status"}\n')
            with sock.makefile("rb") as reply:
                line = reply.readline()
    except OSError:
        return False
    try:
        return bool(json.loads(line).get("ok"))
    except (ValueError, AttributeError):
        return False
