"""`python -m bizdata`: migrate the store, seed the demo's accounts, look a key up.

    python -m bizdata migrate [--url URL | -c CONFIG]
    python -m bizdata seed-demo [--url URL | -c CONFIG]
    python -m bizdata lookup KEY [--url URL | -c CONFIG [--source NAME]]
    python -m bizdata seed-bulk URL --customers 1000000

Without --url the store is the one the config names (`bizdata.url`, else the SQLite
file in its run directory). `lookup` asks a source of the config (default
`accounts`), or with --url the store at that URL, and prints the record as JSON.
`seed-bulk` fills a store for the benchmarks (never a production one: it adds made-up
customers), skipping one that holds the same bulk already.
Exit status: 0 done (lookup: found), 1 lookup found nothing, 2 an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from configuration import PROJECT_ROOT, BizdataSection, ConfigError, StoreSourceSpec, load_config

from ._bulk_seed import seed_bulk
from ._engine import display_url, open_engine, resolve_url, store_url
from ._errors import StoreError
from ._migrate import migrate
from ._open import close_sources, open_sources
from ._seed import seed_demo
from ._source import DataSource
from ._store_source import StoreSource

DEFAULT_CONFIG = PROJECT_ROOT / "config" / "callcenter.yaml"
DEFAULT_DEADLINE_MS = StoreSourceSpec(kind="store").deadline_ms


def _config_section(args: argparse.Namespace) -> tuple[BizdataSection, Path]:
    """The config's `bizdata:` section (or its defaults) and its run directory."""
    path = Path(args.config).resolve()
    config = load_config(path)
    # As `callcenter up` places the run directory: relative to the config file.
    return config.bizdata or BizdataSection(), (path.parent / config.node.run_dir).resolve()


def _store(args: argparse.Namespace) -> tuple[str, str | None]:
    """The store's URL and its password variable: --url (a relative SQLite path from
    the current directory), else the config's."""
    if args.url is not None:
        return resolve_url(args.url, Path.cwd()), None
    section, run_dir = _config_section(args)
    return store_url(section, run_dir), section.password_env


def cmd_migrate(args: argparse.Namespace) -> int:
    url, password_env = _store(args)
    revision = migrate(url, password_env=password_env)
    print(f"{display_url(url)}: at revision {revision}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    url, password_env = _store(args)
    added = seed_demo(url, password_env=password_env)
    print(f"{display_url(url)}: {added} demo accounts added, the well-known ones reset")
    return 0


def cmd_seed_bulk(args: argparse.Namespace) -> int:
    url = resolve_url(args.url, Path.cwd())
    added = seed_bulk(url, customers=args.customers, password_env=args.password_env)
    what = f"{added} customers added" if added else "this bulk is there already: nothing added"
    print(f"{display_url(url)}: {what}")
    return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    if args.url is not None:
        if args.source != "accounts":
            raise StoreError("--source names a source of the config: leave out --url")
        url, _ = _store(args)
        engine = open_engine(url, deadline_ms=DEFAULT_DEADLINE_MS, read_only=True)
        sources: dict[str, DataSource] = {
            "accounts": StoreSource("accounts", engine, deadline_ms=DEFAULT_DEADLINE_MS)
        }
    else:
        sources = open_sources(*_config_section(args))
    try:
        record = _source(sources, args.source).lookup(args.key)
    finally:
        close_sources(sources)
    if record is None:
        print(f"{args.source}: not found", file=sys.stderr)
        return 1
    print(json.dumps(dict(record), ensure_ascii=False, indent=2, default=str))
    return 0


def _source(sources: Mapping[str, DataSource], name: str) -> DataSource:
    if name not in sources:
        raise StoreError(f"no data source {name!r}; the config has: {', '.join(sorted(sources))}")
    return sources[name]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bizdata", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the store's SQLAlchemy URL (instead of the config's)")
    common.add_argument(
        "-c", "--config", default=str(DEFAULT_CONFIG), help="YAML config (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", parents=[common], help="upgrade the store to the newest schema")
    sub.choices["migrate"].set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed-demo", parents=[common], help="add the demo's accounts")
    seed.set_defaults(func=cmd_seed_demo)
    bulk = sub.add_parser("seed-bulk", help="add made-up customers for the benchmarks")
    bulk.add_argument("url", help="the store's SQLAlchemy URL")
    bulk.add_argument("--customers", type=int, required=True, help="how many (one account each)")
    bulk.add_argument("--password-env", help="the variable holding the database password")
    bulk.set_defaults(func=cmd_seed_bulk)
    lookup = sub.add_parser("lookup", parents=[common], help="ask a data source for KEY")
    lookup.add_argument("key")
    lookup.add_argument("--source", default="accounts", help="(default: %(default)s)")
    lookup.set_defaults(func=cmd_lookup)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code
