"""The desktop's pure rules: the CSP, the screen-pop URL, the CSRF comparison, the
ACD refusal codes, and `python -m desktop`'s start-up errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from acd_api.v1 import acd_pb2 as pb
from desktop._acd import acd_refusal
from desktop._csrf import csrf_ok
from desktop._events import fill_screen_pop
from desktop._security import content_security_policy

ROOT = Path(__file__).resolve().parents[2]


def test_the_csp_allows_the_desktop_and_kamailio_sockets_and_no_inline_script() -> None:
    csp = content_security_policy("https://desk.example:8443", "wss://sip.example:7443")
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' wss://desk.example:8443 wss://sip.example:7443"
    assert directives["media-src"] == "'self' blob: mediastream:"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp


def test_screen_pop_fields_are_url_encoded() -> None:
    url = fill_screen_pop("https://crm/x?c={caller}&q={queue}", {"caller": "+86 1", "queue": "a&b"})
    assert url == "https://crm/x?c=%2B86%201&q=a%26b"


def test_csrf_is_needed_on_changes_only() -> None:
    assert csrf_ok("GET", None, "token")
    assert not csrf_ok("POST", None, "token")
    assert not csrf_ok("DELETE", "other", "token")
    assert csrf_ok("PUT", "token", "token")


@pytest.mark.parametrize(
    ("code", "status", "name"),
    [
        (pb.ERROR_CODE_ALREADY_LOGGED_IN, 409, "already_logged_in"),
        (pb.ERROR_CODE_SEAT_OCCUPIED, 409, "seat_taken"),
        (pb.ERROR_CODE_SKILL_NOT_ALLOWED, 403, "skill_not_allowed"),
        (pb.ERROR_CODE_AUTH_FAILED, 401, "bad_credentials"),
        (pb.ERROR_CODE_SEAT_OUT_OF_RANGE, 422, "seat_out_of_range"),
        (pb.ERROR_CODE_AGENT_NOT_AVAILABLE, 409, "agent_not_available"),
    ],
)
def test_acd_refusals_map_to_the_contract(code: int, status: int, name: str) -> None:
    error = acd_refusal(pb.Error(code=code, message="why"))
    assert (error.status, error.code, error.message) == (status, name, "why")


def test_python_m_desktop_names_what_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "callcenter.yaml"
    config.write_text(
        "version: 1\nrtpengine: {nodes: [{ng: '127.0.0.1:2223'}]}\nacd: {}\n"
        f"tls: {{cert: {tmp_path}/none.crt, key: {tmp_path}/none.key}}\n"
    )

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desktop", "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )

    no_section = run()
    assert no_section.returncode == 2 and "no `desktop:` section" in no_section.stderr
    config.write_text(config.read_text() + "desktop: {}\n")
    no_cert = run()
    assert no_cert.returncode == 2
    assert f"no TLS file {tmp_path}/none.crt" in no_cert.stderr
    assert "callcenter secrets" in no_cert.stderr
