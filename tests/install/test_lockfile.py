"""requirements.lock: current with pyproject.toml, fully pinned, and the stubs' generator.

The freshness check is the one scripts/install runs before installing: a digest of
pyproject.toml's dependency spec, recorded in the lock by scripts/lock, so it needs
no network and no resolver.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.lockfile import entry, inputs_digest, staleness, with_digest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def pins(lock_text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", lock_text, re.MULTILINE):
        found.setdefault(match.group(1).lower(), match.group(2))
    return found


def test_the_committed_lock_is_current_with_pyproject() -> None:
    assert staleness(PYPROJECT, LOCK) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"redis>=5",', '"redis>=6",'),  # a runtime range moved
        ('"pytest>=8",', '"pytest>=8",\n    "hypothesis",'),  # a dev tool added
        ('requires = ["setuptools>=77"]', 'requires = ["setuptools>=80"]'),  # the build backend
        ('requires-python = ">=3.11"', 'requires-python = ">=3.12"'),
    ],
)
def test_a_changed_dependency_spec_makes_the_lock_stale(old: str, new: str) -> None:
    assert old in PYPROJECT
    problem = staleness(PYPROJECT.replace(old, new, 1), LOCK)
    assert problem is not None
    assert "out of date" in problem
    assert "run scripts/lock" in problem


def test_edits_outside_the_dependency_spec_keep_the_lock_current() -> None:
    edited = PYPROJECT.replace("line-length = 100", "line-length = 99").replace(
        'version = "0.1.0"', 'version = "0.2.0"'
    )
    assert edited != PYPROJECT
    assert staleness(edited, LOCK) is None


def test_a_lock_without_its_digest_or_missing_is_refused() -> None:
    body = LOCK.split("\n", 1)[1]
    assert "scripts/lock" in (staleness(PYPROJECT, body) or "")
    assert "missing" in (staleness(PYPROJECT, None) or "")
    assert staleness(PYPROJECT, with_digest(body, inputs_digest(PYPROJECT))) is None


def test_the_install_check_fails_clearly_on_a_stale_lock(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lockfile.py", tmp_path / "scripts")
    shutil.copy(ROOT / "requirements.lock", tmp_path)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.replace('"redis>=5",', '"redis>=6",'))
    stale = subprocess.run(
        ["/usr/bin/python3", "scripts/lockfile.py", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert stale.returncode == 1
    assert "requirements.lock is out of date" in stale.stderr
    assert "run scripts/lock" in stale.stderr
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    current = subprocess.run(
        ["/usr/bin/python3", "scripts/lockfile.py", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (current.returncode, current.stderr) == (0, "")


def test_every_package_is_pinned_with_hashes() -> None:
    _header, body = LOCK.split("\n#    scripts/lock\n")
    entries = re.split(r"\n(?=[A-Za-z0-9])", body)
    assert len(entries) >= len(pins(LOCK)) > 50
    for block in entries:
        assert re.match(r"[A-Za-z0-9._-]+==\S+", block), block[:80]
        assert "--hash=sha256:" in block, block[:80]


def test_the_lock_pins_the_generator_of_the_committed_stubs() -> None:
    generated = re.search(
        r"GRPC_GENERATED_VERSION = '([0-9.]+)'",
        (ROOT / "acd_api" / "v1" / "acd_pb2_grpc.py").read_text(),
    )
    protobuf_gencode = re.search(
        r"# Protobuf Python Version: ([0-9.]+)",
        (ROOT / "acd_api" / "v1" / "acd_pb2.py").read_text(),
    )
    assert generated and protobuf_gencode
    locked = pins(LOCK)
    assert locked["grpcio-tools"] == generated.group(1)

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    # The stubs refuse to import on an older runtime than the one they were made for.
    assert version(locked["grpcio"]) >= version(generated.group(1))
    assert version(locked["protobuf"]) >= version(protobuf_gencode.group(1))
    assert version(locked["protobuf"])[0] == version(protobuf_gencode.group(1))[0]


def test_entry_gives_one_package_with_its_hashes() -> None:
    uv = entry(LOCK, "uv")
    assert uv.startswith(f"uv=={pins(LOCK)['uv']} ")
    lines = uv.splitlines()
    assert all(line.strip().startswith("--hash=sha256:") for line in lines[1:])
    assert len(lines) > 2
    assert entry(LOCK, "GRPCIO_tools").startswith("grpcio-tools==")
    with pytest.raises(LookupError, match="no-such-package"):
        entry(LOCK, "no-such-package")
