"""`NUMBER=NAME,...` on the controller's command line: the queue (`--queue-for`) or the
IVR flow (`--ivr-for`) each dialled number's calls go to."""

from __future__ import annotations

__all__ = ["parse_number_map"]


def parse_number_map(value: str, what: str) -> dict[str, str]:
    """`NUMBER=<what>,...` -> {number: name}; a number listed twice is refused. `what`
    names the values as the option's usage does (QUEUE, FLOW)."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        number, sep, name = (p.strip() for p in item.partition("="))
        if not sep or not number or not name:
            raise ValueError(f"expected NUMBER={what}, got {item!r}")
        if number in mapping:
            raise ValueError(f"number {number!r} is mapped twice")
        mapping[number] = name
    return mapping
