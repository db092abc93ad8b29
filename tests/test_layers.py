"""The layers, as a process sees them: what importing a package loads.

import-linter (scripts/test) checks the import graph statically; these check the
outcome in a fresh interpreter, including imports done lazily at run time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import acd
import configuration
from configuration import STRATEGY_NAMES, join_hostport, split_hostport

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = (
    "acd",
    "acd_api",
    "acd_client",
    "acdsvc",
    "analytics",
    "bizdata",
    "callcenter",
    "controller",
    "dashboards",
    "eventlog",
    "identity",
    "presence",
    "prompts",
    "routing",
    "rtpengine",
    "simulators",
    "teletraffic",
)


def loaded_after(code: str) -> set[str]:
    """The top-level names in sys.modules after running `code` in a fresh interpreter.
    A SystemExit (a __main__ that parses an empty command line) still counts its imports."""
    script = (
        f"import json, sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_controller_does_not_load_dashboards_or_analytics() -> None:
    # acd_client: what a controller with --acd imports when its driver starts.
    loaded = loaded_after("import controller, controller.__main__, acd_client")
    heavy = {
        "dashboards",
        "analytics",
        "pandas",
        "pyarrow",
        "chdb",
        "streamlit",
        "callcenter",
        "acdsvc",
        "presence",
    }
    assert "controller" in loaded
    assert loaded & heavy == set()


def test_configuration_imports_no_other_project_package() -> None:
    names = ", ".join(configuration.__all__)
    loaded = loaded_after(f"from configuration import {names}")
    assert loaded & set(PROJECT_PACKAGES) == set()


def test_configuration_loads_the_schema_only_when_it_is_used() -> None:
    loaded = loaded_after("from configuration import split_hostport, RunLayout, STRATEGY_NAMES")
    assert {"pydantic", "yaml"} & loaded == set()
    assert {"pydantic", "yaml"} <= loaded_after("from configuration import CallCenterConfig")


def test_bizdata_loads_sqlalchemy_when_a_store_is_opened_and_alembic_to_migrate() -> None:
    # The interface alone (a host that only type-checks against DataSource) costs nothing;
    # the sources need SQLAlchemy; only migrating needs Alembic.
    assert {"sqlalchemy", "alembic"} & loaded_after("import bizdata") == set()
    sources = loaded_after("import bizdata; bizdata.open_sources")
    assert "sqlalchemy" in sources
    assert "alembic" not in sources
    assert "alembic" in loaded_after("import bizdata; bizdata.migrate")


def test_every_public_name_of_configuration_resolves() -> None:
    for name in configuration.__all__:
        assert getattr(configuration, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        configuration.nothing_here  # noqa: B018


def test_the_acd_has_a_strategy_for_every_name_the_config_accepts() -> None:
    assert set(acd.BUILTIN_STRATEGIES) == set(STRATEGY_NAMES)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("127.0.0.1:5060", ("127.0.0.1", 5060)),
        ("[::1]:50051", ("::1", 50051)),
        ("redis.local:6379", ("redis.local", 6379)),
    ],
)
def test_split_hostport_and_back(text: str, parts: tuple[str, int]) -> None:
    assert split_hostport(text) == parts
    assert join_hostport(*parts) == text


@pytest.mark.parametrize("bad", ["5060", ":5060", "host:", "host:http", ""])
def test_split_hostport_refuses_what_is_not_host_port(bad: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        split_hostport(bad)
