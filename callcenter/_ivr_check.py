"""`callcenter check-config` and `up`: every IVR flow loads, and every name the config
and the flows use exists (docs/configuration.md, "ivr.flows_dir").

The schema (configuration/) cannot load flows, which are the `ivr` package's, so this
check lives here, above both: a flow's own errors name its file, line and node; a
`numbers[].ivr` no flow has names the config's line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ivr
from configuration import (
    BizdataSection,
    CallCenterConfig,
    ConfigError,
    line_index,
    nearest_line,
    parse_yaml,
)

__all__ = ["check_ivr", "data_source_names", "locator"]


def data_source_names(config: CallCenterConfig) -> set[str]:
    """The data sources the replicas open (`bizdata.open_sources`): without a
    `bizdata:` section, the section's defaults."""
    section = config.bizdata if config.bizdata is not None else BizdataSection()
    return set(section.sources)


def check_ivr(config: CallCenterConfig, path: Path) -> list[str]:
    """Load the flows `config` names; a line per flow on success. Raises ConfigError
    with every problem (`file:line: ...`)."""
    numbers = [(i, route) for i, route in enumerate(config.numbers) if route.ivr is not None]
    flows_dir = Path(config.ivr.flows_dir)
    if not numbers and not any(route.hours for route in config.numbers):
        return []  # no IVR in this config: the replicas load no flow
    where = locator(path)
    if not flows_dir.is_dir():
        raise ConfigError(
            f"{where(('ivr', 'flows_dir'))}: ivr.flows_dir: {flows_dir} is not a directory "
            f"(numbers with an ivr flow need it)"
        )
    try:
        flows = ivr.load_flows(
            flows_dir, schedules=set(config.schedules), sources=data_source_names(config)
        )
    except ivr.FlowError as exc:
        raise ConfigError(str(exc)) from None
    problems: list[str] = []
    for i, route in numbers:
        if route.ivr not in flows:
            known = ", ".join(sorted(flows)) or "none"
            problems.append(
                f"{where(('numbers', i, 'ivr'))}: numbers.{i}.ivr: number {route.number}: "
                f"no flow {route.ivr!r} in {flows_dir} (flows: {known})"
            )
    if problems:
        raise ConfigError("\n".join(problems))
    return [f"IVR flow {f.name} ({f.path}, version {f.version})" for f in flows.values()]


def locator(path: Path) -> Callable[[tuple[str | int, ...]], str]:
    """`file:line` of a key path in the config file (its nearest ancestor's line)."""
    try:
        document, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ConfigError):
        document = None
    index = line_index(document) if document is not None else {}
    return lambda loc: f"{path}:{nearest_line(index, loc)}"
