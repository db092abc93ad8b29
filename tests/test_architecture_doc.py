"""docs/architecture.md is the map of the packages: every path it names must exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
# A path in backticks: no spaces, and a folder separator or a file ending.
_PATH = re.compile(r"`([\w./-]+(?:/|\.(?:py|md|toml|sql|tmpl|proto|yaml|cfg)))`")


def named_paths(text: str) -> list[str]:
    return sorted(set(_PATH.findall(text)))


def test_the_pattern_finds_paths_and_skips_names() -> None:
    text = "`acd/_core.py` and `dashboards/app_pages/` but not `WatchActions` or `acd.v1`"
    assert named_paths(text) == ["acd/_core.py", "dashboards/app_pages/"]


def test_every_path_the_architecture_doc_names_exists() -> None:
    paths = named_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 30, "the pattern stopped finding the document's paths"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_package_in_the_layers_contract_is_on_the_map() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    packages = {name.strip("() ") for layer in layers["layers"] for name in layer.split("|")}
    text = DOC.read_text(encoding="utf-8")
    assert not [p for p in sorted(packages) if not re.search(rf"\b{p}\b", text)]
