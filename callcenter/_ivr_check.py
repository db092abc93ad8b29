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
    CallCenterConfig,
    ConfigError,
    line_index,
    nearest_line,
    parse_yaml,
)

__all__ = ["check_ivr", "data_source_names"]

# The sources a config has without a `bizdata:` section (bizdata.open_sources).
_DEFAULT_SOURCES = frozenset({"accounts"})


def data_source_names(config: CallCenterConfig) -> set[str]:
    if config.bizdata is None:
        return set(_DEFAULT_SOURCES)
    return set(config.bizdata.sources)


def check_ivr(config: CallCenterConfig, path: Path) -> list[str]:
    """Load the flows `config` names; a line per flow on success. Raises ConfigError
    with every problem (`file:line: ...`)."""
    numbers = [(i, route) for i, route in enumerate(config.numbers) if route.ivr is not None]
    flows_dir = Path(config.ivr.flows_dir)
    if not numbers and not any(route.hours for route in config.numbers):
        return []  # no IVR in this config: the replicas load no flow
    where = _locator(path)
    if not flows_dir.is_dir():
        raise ConfigError(
            f"{where(('ivr', 'flows_dir'))}: ivr.flows_dir: {flows_dir} is not a directory "
            f"(numbers with an ivr flow need it)"
        )
    try:
        flows = ivr.load_flows(flows_dir, schedules=set(config.schedules))
    except ivr.FlowError as exc:
        raise ConfigError(str(exc)) from None
    problems: list[str] = []
    sources = data_source_names(config)
    for flow in sorted(flows.values(), key=lambda f: f.name):
        missing = sorted(flow.sources - sources)
        if missing:
            problems.append(
                f"{flow.path}: flow {flow.name} looks up data source(s) "
                f"{', '.join(missing)}, not in the config's bizdata.sources"
            )
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


def _locator(path: Path) -> Callable[[tuple[str | int, ...]], str]:
    """`file:line` of a key path in the config file (its nearest ancestor's line)."""
    try:
        document, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ConfigError):
        document = None
    index = line_index(document) if document is not None else {}
    return lambda loc: f"{path}:{nearest_line(index, loc)}"
