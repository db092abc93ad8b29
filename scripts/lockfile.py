"""requirements.lock: the one pinned, hashed set of Python packages every install gets.

    python3 scripts/lockfile.py check        # exit 1, saying how to fix, when the lock is stale
    python3 scripts/lockfile.py entry NAME   # print NAME's pinned, hashed lines (the uv bootstrap)

scripts/lock writes the lock with uv and records in its first line a digest of the
inputs it was compiled from: pyproject.toml's dependency spec plus the installer's
own packages. `check` recomputes that digest, so it needs no network and no
resolver: a dependency added, removed or re-ranged in pyproject.toml without
re-running scripts/lock fails the install instead of installing a set that the
lock never resolved. Runs under the system python3 (3.11+ has tomllib) before the
venv exists.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
# Locked beside the project's own dependencies: pip bootstraps uv into the venv and
# `uv pip sync` would remove it unless the lock names it.
INSTALLER_REQUIREMENTS = ("pip",)
DIGEST_PREFIX = "# inputs-sha256: "
REGENERATE = "run scripts/lock to re-resolve it, then commit requirements.lock"


def lock_inputs(pyproject_text: str) -> list[str]:
    """Requirements compiled into the lock besides pyproject.toml's own dependency lists.

    The build backend is locked too, so the project's editable install builds
    with a pinned setuptools instead of whatever an isolated build would fetch.
    """
    build = tomllib.loads(pyproject_text).get("build-system", {}).get("requires", [])
    return [*build, *INSTALLER_REQUIREMENTS]


def inputs_digest(pyproject_text: str) -> str:
    """A digest of everything the lock is resolved from, and nothing else in pyproject.toml."""
    project = tomllib.loads(pyproject_text).get("project", {})
    spec = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "extra-inputs": lock_inputs(pyproject_text),
    }
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_digest(lock_text: str) -> str | None:
    first = lock_text.partition("\n")[0]
    return first.removeprefix(DIGEST_PREFIX).split()[0] if first.startswith(DIGEST_PREFIX) else None


def with_digest(lock_text: str, digest: str) -> str:
    """The lock text headed by the digest line (replacing an older one)."""
    body = lock_text.split("\n", 1)[1] if recorded_digest(lock_text) else lock_text
    return f"{DIGEST_PREFIX}{digest} (of pyproject.toml's dependency spec)\n{body}"


def staleness(pyproject_text: str, lock_text: str | None) -> str | None:
    """Why the lock does not match pyproject.toml, or None when it does."""
    if lock_text is None:
        return f"requirements.lock is missing: {REGENERATE}"
    recorded = recorded_digest(lock_text)
    if recorded is None:
        return f"requirements.lock has no '{DIGEST_PREFIX.strip()}' header line: {REGENERATE}"
    if recorded != inputs_digest(pyproject_text):
        return (
            "requirements.lock is out of date: pyproject.toml's dependencies changed "
            f"since it was compiled; {REGENERATE}"
        )
    return None


_ENTRY_START = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entry(lock_text: str, name: str) -> str:
    """One package's requirement with its hashes, as lines pip accepts with --require-hashes."""
    lines: list[str] = []
    for line in lock_text.splitlines():
        match = _ENTRY_START.match(line)
        if match:
            if lines:
                break
            if _canonical(match.group(1)) == _canonical(name):
                lines.append(line)
        elif lines and line.startswith(" ") and not line.lstrip().startswith("#"):
            lines.append(line)
    if not lines:
        raise LookupError(f"{name} is not in requirements.lock")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    lock_text = LOCK.read_text() if LOCK.exists() else None
    if argv == ["check"]:
        problem = staleness(PYPROJECT.read_text(), lock_text)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 2 and argv[0] == "entry" and lock_text is not None:
        try:
            sys.stdout.write(entry(lock_text, argv[1]))
        except LookupError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 1 and argv[0] == "inputs":
        print("\n".join(lock_inputs(PYPROJECT.read_text())))
        return 0
    if len(argv) == 2 and argv[0] == "stamp-digest":
        # scripts/lock: put the digest line on top of a freshly compiled lock.
        path = Path(argv[1])
        path.write_text(with_digest(path.read_text(), inputs_digest(PYPROJECT.read_text())))
        return 0
    print(__doc__.strip().splitlines()[0], file=sys.stderr)
    print("usage: lockfile.py check | entry NAME | inputs | stamp-digest FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
