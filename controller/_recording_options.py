"""Always-on recording's options on the controller's command line (`callcenter up`
passes `numbers[].record` and `queues[].record`, docs/recording.md)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RecordingOptions", "add_recording_arguments", "recording_options"]


@dataclass(frozen=True)
class RecordingOptions:
    numbers: frozenset[str] = frozenset()  # dialled numbers recorded from the caller's answer
    queues: frozenset[str] = frozenset()  # queues recorded from the agent's answer


def add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("recording", "always-on recording (docs/recording.md)")
    group.add_argument(
        "--record-number",
        action="append",
        default=[],
        metavar="NUMBER,...",
        help="record every call to these dialled numbers from the caller's answer (repeatable)",
    )
    group.add_argument(
        "--record-queue",
        action="append",
        default=[],
        metavar="QUEUE,...",
        help="record every call of these ACD queues from the agent's answer (repeatable)",
    )


def _names(values: Sequence[str]) -> frozenset[str]:
    return frozenset(n.strip() for value in values for n in value.split(",") if n.strip())


def recording_options(args: argparse.Namespace) -> RecordingOptions:
    return RecordingOptions(numbers=_names(args.record_number), queues=_names(args.record_queue))
