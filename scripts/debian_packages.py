"""What apt says about a Debian package: installed version and install candidate.

    python3 scripts/debian_packages.py candidate clickhouse-server
        prints the candidate version and exits 0, or exits 1 when apt has none
    python3 scripts/debian_packages.py versions kamailio rtpengine-daemon python3
        prints "kamailio 5.6.3-2, ..." (installed versions; "none" when absent)

scripts/install asks here instead of `apt-cache policy … | grep -q`, which under
`set -o pipefail` failed with SIGPIPE whenever grep quit before apt-cache finished
writing; the whole output is read and parsed, and the parsing is unit-tested on
apt-cache output captured on Debian 12 and written for Debian 13. Runs under the
system python3, before the venv exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

NONE = "(none)"


@dataclass(frozen=True)
class Policy:
    """One package's entry in `apt-cache policy`: versions, or None where apt has none."""

    package: str
    installed: str | None
    candidate: str | None


def parse_policy(output: str) -> dict[str, Policy]:
    """Every package entry in `apt-cache policy PKG...` output, by name.

    A package apt has never heard of has no entry at all (apt 2.6 prints nothing
    for it; older ones a "N: Unable to locate package" note), so callers treat a
    missing name as "no candidate".
    """
    policies: dict[str, Policy] = {}
    package: str | None = None
    fields: dict[str, str | None] = {}

    def close() -> None:
        if package is not None:
            policies[package] = Policy(package, fields.get("Installed"), fields.get("Candidate"))

    for line in output.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            close()
            package, fields = line[:-1], {}
        elif package is not None and line.startswith("  ") and not line.startswith("   "):
            key, sep, value = line.strip().partition(":")
            if sep and key in ("Installed", "Candidate"):
                value = value.strip()
                fields[key] = None if value in ("", NONE) else value
    close()
    return policies


def apt_policy(packages: list[str]) -> dict[str, Policy]:
    run = subprocess.run(
        ["apt-cache", "policy", *packages],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},  # the field names are translated otherwise
    )
    return parse_policy(run.stdout)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "candidate":
        policy = apt_policy([argv[1]]).get(argv[1])
        if policy is None or policy.candidate is None:
            return 1
        print(policy.candidate)
        return 0
    if len(argv) >= 2 and argv[0] == "versions":
        policies = apt_policy(argv[1:])
        print(
            ", ".join(
                f"{name} {getattr(policies.get(name), 'installed', None) or 'none'}"
                for name in argv[1:]
            )
        )
        return 0
    print("usage: debian_packages.py candidate PKG | versions PKG...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
