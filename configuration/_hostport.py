"""host:port, as every address in the config and on every command line is written.

One home for splitting and joining them: an IPv6 host comes in brackets
("[::1]:5060"), and the port is whatever follows the last colon.
"""

from __future__ import annotations

__all__ = ["join_hostport", "split_hostport"]


def split_hostport(value: str) -> tuple[str, int]:
    """ "host:port" -> (host, port), the host without IPv6 brackets.

    Raises ValueError naming the value when it has no host or no numeric port.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def join_hostport(host: str, port: int) -> str:
    """(host, port) -> "host:port", bracketing an IPv6 host."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"
