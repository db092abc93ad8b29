"""The ACD driver's options: `--acd` and friends on the controller's command line
(docs/configuration.md lists the `callcenter up` side), and the ring time they give.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acd_client import TokenError, read_token
from configuration import split_hostport
from controller._number_map import parse_number_map

__all__ = ["AcdOptions", "acd_options", "add_acd_arguments", "ring_time"]


@dataclass(frozen=True)
class AcdOptions:
    """`--acd` and friends (docs/configuration.md lists the `callcenter up` side)."""

    addresses: tuple[str, ...]
    queue_for: Mapping[str, str] = field(default_factory=dict)  # dialled number -> queue
    default_queue: str | None = None  # for numbers not in queue_for; None: hang up
    rpc_timeout_s: float = 1.0  # one attempt of one RPC
    # From the call's arrival: how long a caller waits (parked) for the ACD to take
    # the call before being hung up with cause "acd unavailable". Covers a leader
    # fail-over (about 1.25 x acd.leader_lease_ms, 2.5 s by default).
    enqueue_timeout_s: float = 5.0
    # How long Answered/NoAnswer/Hangup/Abandon are retried while the ACD is unreachable.
    retry_s: float = 30.0
    workers: int = 4  # RPC threads (calls in parallel; each call's RPCs stay in order)
    # The controller rings this much less than the ACD's ring timeout, so that its
    # CANCEL and NoAnswer reach the ACD before the ACD's own ring timer fires.
    ring_margin_s: float = 0.5
    # The ACD's service token (acd_client), read from --acd-token-file; None: send none.
    token: str | None = field(default=None, repr=False)
    # EnqueueRequest.source: "<node>#<instance>" when this replica keeps its live calls
    # in the registry the ACD reconciles against (controller/_registry.py); "" otherwise,
    # and the ACD then never ends this replica's calls by itself.
    source: str = ""


def add_acd_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ACD", "the ACD drives the calls (docs/call-control.md)")
    group.add_argument(
        "--acd",
        default=None,
        metavar="HOST:PORT[,HOST:PORT...]",
        help="ACD replicas (gRPC acd.v1): enqueue every call (reserve the "
        "callee of an internal call) and ring the agents it offers; "
        "without --queue-for/--default-queue only internal calls are "
        "taken, others are refused (cause 'no queue')",
    )
    group.add_argument(
        "--queue-for",
        action="append",
        default=[],
        metavar="NUMBER=QUEUE,...",
        help="the ACD queue for calls to a dialled number (repeatable)",
    )
    group.add_argument(
        "--default-queue",
        default=None,
        help="the queue for dialled numbers without --queue-for (default: such calls are hung up)",
    )
    group.add_argument(
        "--acd-timeout", type=float, default=1.0, help="seconds per ACD request attempt"
    )
    group.add_argument(
        "--acd-enqueue-timeout",
        type=float,
        default=5.0,
        help="seconds from a call's arrival for the ACD to take it; then "
        "the caller is hung up (cause 'acd unavailable')",
    )
    group.add_argument(
        "--acd-retry",
        type=float,
        default=30.0,
        help="seconds Answered/NoAnswer/Hangup/Abandon are retried",
    )
    group.add_argument(
        "--acd-workers", type=int, default=4, help="threads sending requests to the ACD"
    )
    group.add_argument(
        "--acd-token-file",
        type=Path,
        default=None,
        help="file with the ACD's service token (acd.token_file)",
    )


def _addresses(value: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in value.split(",") if a.strip())
    if not addresses:
        raise ValueError("--acd needs at least one HOST:PORT")
    for address in addresses:
        try:
            split_hostport(address)
        except ValueError:
            raise ValueError(f"--acd: expected HOST:PORT, got {address!r}") from None
    return addresses


def _queue_for(values: Sequence[str]) -> dict[str, str]:
    """Every `--queue-for`, merged; a number mapped twice (even across options) is refused."""
    queue_for: dict[str, str] = {}
    for value in values:
        try:
            mapping = parse_number_map(value, "QUEUE")
        except ValueError as exc:
            raise ValueError(f"--queue-for: {exc}") from None
        for number, queue in mapping.items():
            if number in queue_for:
                raise ValueError(f"--queue-for: number {number!r} is mapped twice")
            queue_for[number] = queue
    return queue_for


def acd_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> AcdOptions | None:
    """The parsed `--acd...` options, or None without `--acd`; misuse exits via parser.error."""
    if args.acd is None:
        if args.queue_for or args.default_queue is not None:
            parser.error("--queue-for and --default-queue need --acd")
        return None
    try:
        addresses = _addresses(args.acd)
        queue_for = _queue_for(args.queue_for)
    except ValueError as exc:
        parser.error(str(exc))
    for name in ("acd_timeout", "acd_enqueue_timeout", "acd_retry"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.acd_workers < 1:
        parser.error("--acd-workers must be at least 1")
    try:
        token = None if args.acd_token_file is None else read_token(args.acd_token_file)
    except TokenError as exc:
        parser.error(str(exc))
    return AcdOptions(
        addresses=addresses,
        queue_for=queue_for,
        default_queue=args.default_queue,
        rpc_timeout_s=args.acd_timeout,
        enqueue_timeout_s=args.acd_enqueue_timeout,
        retry_s=args.acd_retry,
        workers=args.acd_workers,
        token=token,
    )


def ring_time(acd_ring_timeout_s: float, margin_s: float) -> float | None:
    """How long the controller rings for an Offer: the ACD's ring timeout less the
    margin (at most a quarter less), so the controller's own ring timer decides
    and the ACD's stays the backstop. None (the controller's default) if unset."""
    if acd_ring_timeout_s <= 0:
        return None
    return max(acd_ring_timeout_s - margin_s, acd_ring_timeout_s * 0.75)
