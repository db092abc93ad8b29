"""From the config's `bizdata:` section to the data sources the IVR's lookups call."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from configuration import BizdataSection, HttpSourceSpec, SqlSourceSpec, StoreSourceSpec

from ._engine import open_engine, resolve_url, store_url
from ._errors import DataSourceError, StoreError
from ._http_source import HttpSource
from ._source import DataSource
from ._sql_source import SqlSource
from ._store_source import StoreSource

__all__ = ["close_sources", "open_sources"]


def open_sources(section: BizdataSection | None, base_dir: Path) -> dict[str, DataSource]:
    """Every source of `section` by name (no section: the defaults, `accounts` = the
    store). `base_dir` is the run directory: the default store lives there, and a
    relative SQLite path starts there. Connections open at the first lookup; a
    missing environment variable (password_env, headers_env) is a DataSourceError
    now, naming the source and the variable."""
    section = BizdataSection() if section is None else section
    sources: dict[str, DataSource] = {}
    try:
        for name, spec in section.sources.items():
            sources[name] = _open(name, spec, section, base_dir)
    except BaseException:
        close_sources(sources)
        raise
    return sources


def _open(
    name: str,
    spec: StoreSourceSpec | SqlSourceSpec | HttpSourceSpec,
    section: BizdataSection,
    base_dir: Path,
) -> DataSource:
    try:
        if isinstance(spec, StoreSourceSpec):
            engine = open_engine(
                store_url(section, base_dir),
                password_env=section.password_env,
                deadline_ms=spec.deadline_ms,
                read_only=True,
            )
            return StoreSource(name, engine, deadline_ms=spec.deadline_ms)
        if isinstance(spec, SqlSourceSpec):
            engine = open_engine(
                resolve_url(spec.url, base_dir),
                password_env=spec.password_env,
                deadline_ms=spec.deadline_ms,
                read_only=True,
            )
            return SqlSource(name, engine, spec.query, deadline_ms=spec.deadline_ms)
    except DataSourceError:
        raise
    except StoreError as exc:
        raise DataSourceError(f"data source {name!r}: {exc}") from None
    headers = dict(spec.headers)
    for header, variable in spec.headers_env.items():
        value = os.environ.get(variable)
        if value is None:
            raise DataSourceError(
                f"data source {name!r}: environment variable {variable} "
                f"(headers_env for {header}) is not set"
            )
        headers[header] = value
    return HttpSource(name, spec.url, deadline_ms=spec.deadline_ms, headers=headers)


def close_sources(sources: Mapping[str, DataSource]) -> None:
    """Release what the sources hold (their connection pools)."""
    for source in sources.values():
        close = getattr(source, "close", None)
        if close is not None:
            close()
