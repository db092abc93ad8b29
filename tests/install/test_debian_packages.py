"""scripts/debian_packages.py: reading `apt-cache policy` as scripts/install does.

Fixtures: debian12/ was captured on Debian 12 (bookworm, apt 2.6.1) with
`LC_ALL=C apt-cache policy PKG`; debian13/ was written by hand in the same format
for trixie, which has Kamailio 6.0, rtpengine 12.5, Python 3.13 and no ClickHouse.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts.debian_packages import Policy, parse_policy

FIXTURES = Path(__file__).parent / "fixtures"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "debian_packages.py"


def policy_of(release: str, name: str, package: str) -> Policy | None:
    text = (FIXTURES / release / f"apt-cache-policy-{name}.txt").read_text()
    return parse_policy(text).get(package)


@pytest.mark.parametrize(
    ("release", "name", "installed", "candidate"),
    [
        # Debian 12, captured
        ("debian12", "clickhouse-server", None, "18.16.1+ds-7.3+b2"),
        ("debian12", "clickhouse-server-installed", "18.16.1+ds-7.3+b2", "18.16.1+ds-7.3+b2"),
        ("debian12", "kamailio", "5.6.3-2", "5.6.3-2"),
        # The security update is the candidate, not the older version listed after it.
        ("debian12", "rtpengine-daemon", "10.5.3.5-1+deb12u1", "10.5.3.5-1+deb12u1"),
        ("debian12", "python3", "3.11.2-1+b1", "3.11.2-1+b1"),
        # Debian 13, composed
        ("debian13", "clickhouse-server-no-candidate", None, None),
        ("debian13", "kamailio", "6.0.1-1", "6.0.1-1"),
        ("debian13", "rtpengine-daemon", None, "12.5.1.35-1"),
        ("debian13", "python3", "3.13.5-1", "3.13.5-1"),
    ],
)
def test_installed_and_candidate_versions(
    release: str, name: str, installed: str | None, candidate: str | None
) -> None:
    package = name.removesuffix("-installed").removesuffix("-no-candidate")
    assert policy_of(release, name, package) == Policy(package, installed, candidate)


@pytest.mark.parametrize("name", ["clickhouse-server", "clickhouse-server-unable-to-locate"])
def test_a_package_apt_does_not_know_has_no_entry(name: str) -> None:
    assert policy_of("debian13", name, "clickhouse-server") is None


def test_apt_cache_output_for_a_package_apt_does_not_know_is_empty_on_debian_12() -> None:
    assert (
        parse_policy(
            (FIXTURES / "debian12" / "apt-cache-policy-no-such-package-here.txt").read_text()
        )
        == {}
    )


def test_one_output_for_several_packages_gives_each_its_own_versions() -> None:
    text = "".join(
        (FIXTURES / "debian12" / f"apt-cache-policy-{name}.txt").read_text()
        for name in ("kamailio", "rtpengine-daemon", "clickhouse-server")
    )
    policies = parse_policy(text)
    assert sorted(policies) == ["clickhouse-server", "kamailio", "rtpengine-daemon"]
    assert policies["kamailio"].candidate == "5.6.3-2"
    assert policies["rtpengine-daemon"].installed == "10.5.3.5-1+deb12u1"
    assert policies["clickhouse-server"].installed is None


def run_helper(*args: str) -> subprocess.CompletedProcess[str]:
    # The system python3, as scripts/install runs it (before any venv exists).
    return subprocess.run(
        ["/usr/bin/python3", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_helper_reads_this_machines_apt() -> None:
    dpkg = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "python3"], capture_output=True, text=True, check=True
    )
    versions = run_helper("versions", "python3", "no-such-package-here")
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.strip() == f"python3 {dpkg.stdout}, no-such-package-here none"
    missing = run_helper("candidate", "no-such-package-here")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert run_helper("candidate").returncode == 2
