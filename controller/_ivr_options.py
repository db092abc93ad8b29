"""The controller's IVR options (`--ivr-flows` and friends), and the settings it takes
from the run directory's runtime.json: each number's open hours and closed rule, the
schedules, and the data sources (`bizdata:`)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller._ivr_host import ClosedAnnouncement, ClosedRule, ClosedVoicemail, NumberIvr
from controller._ivr_state import DEFAULT_TTL_S
from ivr import Tts

__all__ = [
    "IvrOptions",
    "IvrSettings",
    "add_ivr_arguments",
    "ivr_options",
    "parse_flow_for",
    "read_settings",
]

# Out-of-hours announcements are said in this order (docs/configuration.md).
_CLOSED_LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class IvrSettings:
    """What the controller takes from runtime.json for its IVR."""

    hours: Mapping[str, str] = field(default_factory=dict)  # number -> schedule
    closed: Mapping[str, ClosedRule] = field(default_factory=dict)  # number -> rule
    schedules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> spec
    bizdata: Mapping[str, Any] | None = None  # the config's `bizdata:` section


@dataclass(frozen=True)
class IvrOptions:
    flows_dir: Path
    flow_for: Mapping[str, str]  # dialled number -> flow name
    prompt_cache: Path  # absolute: rtpengine opens the files by this path
    settings: IvrSettings = IvrSettings()
    settings_file: Path | None = None
    state_ttl_s: float = DEFAULT_TTL_S

    def routes(self) -> dict[str, NumberIvr]:
        numbers = set(self.flow_for) | set(self.settings.hours)
        return {
            number: NumberIvr(
                self.flow_for.get(number),
                self.settings.hours.get(number),
                self.settings.closed.get(number),
            )
            for number in sorted(numbers)
        }

    def required_flows(self) -> dict[str, str]:
        """Flow name -> the numbers that need it (a reload may not remove it)."""
        needed: dict[str, list[str]] = {}
        for number, flow in sorted(self.flow_for.items()):
            needed.setdefault(flow, []).append(number)
        return {flow: "number " + ", ".join(numbers) for flow, numbers in needed.items()}


def parse_flow_for(value: str) -> dict[str, str]:
    """`NUMBER=FLOW,...` -> {number: flow}."""
    flows: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        number, sep, flow = item.partition("=")
        if not sep or not number or not flow:
            raise ValueError(f"expected NUMBER=FLOW, got {item!r}")
        if number in flows:
            raise ValueError(f"number {number} is given twice")
        flows[number] = flow
    return flows


def read_settings(path: Path) -> IvrSettings:
    """The IVR's part of a runtime.json (`callcenter up` wrote and validated it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a config (a JSON object)")
    hours: dict[str, str] = {}
    closed: dict[str, ClosedRule] = {}
    for route in data.get("numbers") or []:
        number, schedule = route.get("number"), route.get("hours")
        if not number or not schedule:
            continue
        hours[number] = schedule
        rule = _closed_rule(route.get("closed") or {})
        if rule is not None:
            closed[number] = rule
    schedules = data.get("schedules") or {}
    missing = sorted(set(hours.values()) - set(schedules))
    if missing:
        raise ValueError(f"{path}: schedules {', '.join(missing)} are not in `schedules:`")
    bizdata = data.get("bizdata")
    return IvrSettings(hours, closed, schedules, bizdata if isinstance(bizdata, dict) else None)


def _closed_rule(spec: Mapping[str, Any]) -> ClosedRule | None:
    box = spec.get("voicemail")
    if box:
        return ClosedVoicemail(str(box))
    texts = tuple(Tts(str(spec[lang]), lang) for lang in _CLOSED_LANGUAGES if spec.get(lang))
    return ClosedAnnouncement(texts) if texts else None


def add_ivr_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "IVR", "call flows this replica runs for dialled numbers (docs/call-control.md, 'IVR')"
    )
    group.add_argument(
        "--ivr-flows",
        default=None,
        metavar="DIR",
        help="the flows: every *.yaml in DIR, reloaded when a file changes",
    )
    group.add_argument(
        "--ivr-for",
        default="",
        metavar="NUMBER=FLOW,...",
        help="the flow each dialled number's calls go through (the ACD driver leaves them to it)",
    )
    group.add_argument(
        "--ivr-prompt-cache",
        default=None,
        metavar="DIR",
        help="where the IVR's prompts are rendered (rtpengine reads them at the same path)",
    )
    group.add_argument(
        "--ivr-settings",
        default=None,
        metavar="RUNTIME_JSON",
        help="the run directory's runtime.json: open hours and closed rules of the "
        "numbers, schedules, data sources (bizdata)",
    )
    group.add_argument(
        "--ivr-state-ttl",
        type=float,
        default=DEFAULT_TTL_S,
        metavar="SECONDS",
        help="TTL of an IVR call's state in Redis (with --redis)",
    )


def ivr_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> IvrOptions | None:
    """The parsed options, or None without --ivr-flows; misuse exits via parser.error."""
    if args.ivr_flows is None:
        if args.ivr_for or args.ivr_settings:
            parser.error("--ivr-for and --ivr-settings need --ivr-flows")
        return None
    try:
        flow_for = parse_flow_for(args.ivr_for)
    except ValueError as exc:
        parser.error(f"--ivr-for: {exc}")
    settings = IvrSettings()
    settings_file = None
    if args.ivr_settings is not None:
        settings_file = Path(args.ivr_settings).resolve()
        try:
            settings = read_settings(settings_file)
        except ValueError as exc:
            parser.error(f"--ivr-settings: {exc}")
    if not flow_for and not settings.hours:
        parser.error("--ivr-flows: no number has a flow (--ivr-for) or open hours")
    if args.ivr_prompt_cache is None:
        parser.error("--ivr-flows needs --ivr-prompt-cache (where its prompts are rendered)")
    if not math.isfinite(args.ivr_state_ttl) or args.ivr_state_ttl <= 0:
        parser.error("--ivr-state-ttl must be a number of seconds above 0")
    return IvrOptions(
        flows_dir=Path(args.ivr_flows).resolve(),
        flow_for=flow_for,
        prompt_cache=Path(args.ivr_prompt_cache).resolve(),
        settings=settings,
        settings_file=settings_file,
        state_ttl_s=args.ivr_state_ttl,
    )
