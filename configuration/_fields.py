"""Field types shared by every section of the config (the analytics section's too)."""

from __future__ import annotations

import argparse
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from ._hostport import split_hostport

__all__ = ["MAX_PORT", "HostPort", "StrictModel", "check_identifier", "check_port"]

MAX_PORT = 65_535
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, and a parsed config does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_port(port: int, where: str) -> int:
    """A TCP/UDP port a daemon can bind or dial: 1..65535 (0 would mean "any port")."""
    if not 1 <= port <= MAX_PORT:
        raise ValueError(f"port {port} in {where} is out of range: a port is 1 to {MAX_PORT}")
    return port


def positive_number(text: str) -> float:
    """argparse type for the services' command lines: a number above 0 (NaN refused)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def check_identifier(name: str) -> str:
    """Database names go into SQL text; allow plain identifiers only."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _host_port_in_range(address: str) -> str:
    check_port(split_hostport(address)[1], repr(address))
    return address


# host:port with the port in 1..65535, as every address in the config is written.
HostPort = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9A-Za-z.\-\[\]:]+:\d{1,5}$"),
    AfterValidator(_host_port_in_range),
]
