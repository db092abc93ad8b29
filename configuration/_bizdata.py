"""The `bizdata:` section of the config: the business data store and the data sources
the IVR's lookups ask (docs/bizdata.md).

Only the shape is checked here (no SQLAlchemy in the lowest layer): a URL's scheme, a
query's `:key`, an HTTP template's `{key}`, and that no secret is written in clear.
Secrets come from environment variables named in the config; `bizdata` reads them when
it opens the store or a source.
"""

from __future__ import annotations

import re
from string import Formatter
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator

from ._fields import StrictModel

__all__ = [
    "DEFAULT_DEADLINE_MS",
    "BizdataSection",
    "HttpSourceSpec",
    "SourceSpec",
    "SqlSourceSpec",
    "StoreSourceSpec",
]

DEFAULT_DEADLINE_MS = 500
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SourceName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]
# RFC 9110 token characters.
HeaderName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z\-]{1,64}$")]
# Every lookup has a deadline; a caller on the line waits for it.
DeadlineMs = Annotated[int, Field(ge=1, le=60_000)]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# `:key` as a bind parameter: not `::key` (a PostgreSQL cast) and not `:keys`.
_KEY_PARAM = re.compile(r"(?<![:\w]):key\b")
# Header names whose value is a credential: never in the config in clear.
_SECRET_HEADER = re.compile(r"auth|token|secret|key|password|cookie|session", re.IGNORECASE)


def _database_url(url: str) -> str:
    """A SQLAlchemy URL (dialect[+driver]://...), with no password in it."""
    if not _URL.match(url):
        raise ValueError(
            f"not a database URL: {url!r} (expected dialect[+driver]://..., "
            "e.g. sqlite:///data/bizdata.sqlite or postgresql+psycopg://user@host/db)"
        )
    try:
        password = urlsplit(url).password
    except ValueError as exc:  # a port that is not a number, for one
        raise ValueError(f"not a database URL: {url!r}: {exc}") from None
    if password is not None:
        raise ValueError(
            "clear-text password in the URL: name an environment variable in password_env "
            "instead (or let libpq read PGPASSWORD or ~/.pgpass)"
        )
    return url


class StoreSourceSpec(StrictModel):
    """Our own store: an account looked up by its number (docs/bizdata.md)."""

    kind: Literal["store"]
    deadline_ms: DeadlineMs = DEFAULT_DEADLINE_MS


class SqlSourceSpec(StrictModel):
    """An operator's SQL database: `query` with a `:key` parameter, first row = the record."""

    kind: Literal["sql"]
    url: str
    password_env: EnvName | None = None
    query: str
    deadline_ms: DeadlineMs = DEFAULT_DEADLINE_MS

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _database_url(url)

    @field_validator("query")
    @classmethod
    def _query(cls, query: str) -> str:
        words = query.split(None, 1)
        if not words or words[0].upper() not in ("SELECT", "WITH"):
            raise ValueError("query must be a SELECT (or WITH ... SELECT)")
        if not _KEY_PARAM.search(query):
            raise ValueError("query needs the bind parameter :key (the looked-up value)")
        return query


class HttpSourceSpec(StrictModel):
    """An operator's HTTP API: GET `url` with `{key}` filled in, a JSON object back,
    404 = not found."""

    kind: Literal["http"]
    url: str
    # Header name -> value, for what is no secret (Accept, a tenant ID).
    headers: dict[HeaderName, str] = Field(default_factory=dict)
    # Header name -> the environment variable that holds its value (credentials).
    headers_env: dict[HeaderName, EnvName] = Field(default_factory=dict)
    deadline_ms: DeadlineMs = DEFAULT_DEADLINE_MS

    @field_validator("url")
    @classmethod
    def _template(cls, url: str) -> str:
        try:
            fields = {name for _, name, _, _ in Formatter().parse(url) if name is not None}
        except ValueError as exc:  # an unmatched brace
            raise ValueError(f"url template {url!r}: {exc}") from None
        if fields != {"key"}:
            others = ", ".join(f"{{{name}}}" for name in sorted(fields - {"key"}))
            raise ValueError(
                f"url template {url!r} needs {{key}} and nothing else in braces"
                + (f" (found {others})" if others else "")
            )
        filled = url.format(key="0")
        parts = urlsplit(filled)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url template {url!r} must be an http:// or https:// URL")
        if parts.password is not None:
            raise ValueError("clear-text password in the URL: use headers_env")
        return url

    @field_validator("headers")
    @classmethod
    def _no_secrets(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if _SECRET_HEADER.search(name):
                raise ValueError(
                    f"header {name} looks like a credential: name the environment "
                    "variable that holds it in headers_env instead"
                )
        return headers


SourceSpec = Annotated[
    StoreSourceSpec | SqlSourceSpec | HttpSourceSpec, Field(discriminator="kind")
]


def _default_sources() -> dict[str, SourceSpec]:
    return {"accounts": StoreSourceSpec(kind="store")}


class BizdataSection(StrictModel):
    """The business data store (bizdata/) and the data sources lookups go to."""

    # Any SQLAlchemy URL. None: sqlite in the run directory (data/bizdata.sqlite); a
    # relative SQLite path is relative to the run directory. PostgreSQL when several
    # nodes share the data: postgresql+psycopg://user@host/db.
    url: str | None = None
    # The environment variable holding the store's database password, if it needs one.
    password_env: EnvName | None = None
    # Name -> source. `accounts` is the store unless defined here.
    sources: dict[SourceName, SourceSpec] = Field(default_factory=_default_sources)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _database_url(url)

    @field_validator("sources")
    @classmethod
    def _default_accounts(cls, sources: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
        if "accounts" in sources:
            return sources
        return {**_default_sources(), **sources}
