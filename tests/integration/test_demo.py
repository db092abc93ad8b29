"""`callcenter demo` on the shipped config, run twice on one stack; then that stack as
an operator keeps using it: the supervisor the demo printed logs in, an account added
with `callcenter account add` works without a restart, and no log says anything is
wrong. The demo runs once per module (it takes about 20 s); the tests share it.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import callcenter
import configuration
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from callcenter._demo import DEMO_SUPERVISOR, run_demo
from configuration import RunLayout
from dashboards.queries import ConfigAccounts, DashboardSettings
from identity import verify_password
from simulators import RegistrationError, free_port, register
from testbed import wait_until

pytestmark = pytest.mark.integration

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "callcenter.yaml"
RUNS = 2
# An account added while the stack runs must work within this long (the bound).
ACCOUNT_TAKES_EFFECT_S = 5.0

# Log lines at WARNING or above that are expected in a demo run. Keep it short: every
# entry is a message an operator would otherwise have to learn to ignore.
ALLOWED_WARNINGS = [
    # The host's setting, not ours: Redis wants vm.overcommit_memory=1 for its snapshots.
    re.compile(r"redis\.log: .*WARNING Memory overcommit must be enabled"),
    # Kamailio's main process reports each worker's normal exit at ALERT when
    # `callcenter down` stops it; status=0 is the clean case (any other status is not allowed).
    re.compile(
        r"kamailio\.log: .*ALERT: <core> .*handle_sigs\(\): child process \d+ "
        r"exited normally, status=0$"
    ),
    # Kamailio's tls module (WSS) states at every start whether its guard for OpenSSL bug
    # #1491 is on; it warns whichever way it is set (low_mem_threshold1/2).
    re.compile(r"kamailio\.log: .*WARNING: tls .*openssl bug #1491 .*workaround enabled"),
]
# The level words Python's logging, Kamailio, rtpengine and Redis write.
WARNING_OR_WORSE = re.compile(
    r"\b(WARNING|WARN|ERROR|ERR|CRITICAL|CRIT|ALERT|EMERG|FATAL|Traceback)\b"
)


@dataclass
class DemoStack:
    config_path: Path
    layout: RunLayout
    outputs: list[str]


def _demo_config_on_free_ports(workdir: Path) -> Path:
    """config/callcenter.yaml as shipped, moved to free ports and this test's run dir
    (every other key, the numbers, queue, controller, ACD and IVR flows included,
    unchanged)."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["node"]["run_dir"] = str(workdir / "run")
    config["accounts_file"] = str(workdir / "accounts.yaml")
    config["sip"]["listen"] = f"127.0.0.1:{free_port()}"
    port_base = 20000 + secrets.randbelow(60) * 200
    (node,) = config["rtpengine"]["nodes"]
    node.update(ng=f"127.0.0.1:{free_port()}", port_min=port_base, port_max=port_base + 199)
    config["redis"]["listen"] = f"127.0.0.1:{free_port()}"
    for replica in config["controllers"]:
        replica.update(sip=f"127.0.0.1:{free_port()}", control=f"127.0.0.1:{free_port()}")
    for section in ("acd", "analytics", "dashboards", "desktop", "recording"):
        config[section]["listen"] = f"127.0.0.1:{free_port()}"
    config["sip"]["wss_listen"] = f"127.0.0.1:{free_port()}"
    for mixer in config.get("monitoring", {}).get("mixers", []):
        mixer_base = 61000 + secrets.randbelow(40) * 100  # above the ephemeral range
        mixer.update(ng=f"127.0.0.1:{free_port()}", port_min=mixer_base, port_max=mixer_base + 99)
    config["ivr"]["flows_dir"] = str(DEMO_CONFIG.parent / config["ivr"]["flows_dir"])
    path = workdir / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo run twice in a row (fresh passwords, the stack restarted); the stack it
    leaves running stays up for the module's tests."""
    workdir = tmp_path_factory.mktemp("demo")
    path = _demo_config_on_free_ports(workdir)
    layout = callcenter.layout_for(configuration.load_config(path), workdir)
    outputs = []
    try:
        for _ in range(RUNS):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = run_demo(path, calls=3)
            outputs.append(out.getvalue())
            assert code == 0, out.getvalue()
        yield DemoStack(path, layout, outputs)
    finally:
        callcenter.down(layout)


def test_the_demo_takes_this_path_and_runs_twice(demo: DemoStack) -> None:
    """Every call is answered by the agent the ACD chose, with audio both ways, its CDR
    arrives, nothing is left; the second run right after the first does the same."""
    for out in demo.outputs:
        calls = re.findall(
            r"^call \d: +\S+ -> ACD chose agent (100[12]) "
            r"\(talking -> (?:wrap_up|idle)\) +cid=\S+ +OK$",
            out,
            re.M,
        )
        assert len(calls) == 3, out
        assert set(calls) == {"1001", "1002"}, out  # longest idle: they take turns
        assert out.count("SIP 200 (parked), re-INVITE (bridged), BYE 200;") == 3, out
        # The three calls and the self-service one.
        assert out.count("RTP 50/50 to agent, 50/50 to caller") == 4, out
        assert re.search(r"^ACD after wrap-up: 1001 idle, \d call\(s\); 1002 idle", out, re.M), out
        assert "4/4 CDRs as expected" in out, out  # the three calls and the self-service one
        assert "rtpengine sessions left: 0, calls left in the controller: 0" in out, out
        # The web desktop runs, with a desk agent's login printed for a person to try.
        desk = re.search(
            r"^Agent desktop: (https://\S+)\n  log in as '1003' .* password '(\S+)'", out, re.M
        )
        assert desk is not None, out
    # The business data store: migrated by `up`, the demo's accounts seeded once.
    assert "305 demo accounts added (account 12345674 owes 123.45" in demo.outputs[0]
    assert ", 0 demo accounts added" in demo.outputs[1]


def test_the_demo_self_service_call_hears_its_balance_and_reaches_an_agent(
    demo: DemoStack,
) -> None:
    """The hotline: "1" (Mandarin) cuts the language menu, "1", the account and "#" by
    RFC 4733, the balance heard (found by cross-correlation in the caller's audio), "0":
    an agent the ACD chose answers; its CDR has the path and the result."""
    for out in demo.outputs:
        assert re.search(
            r"^self-service: +\+8613912345678 -> 95599 \(IVR\) -> ACD chose agent 100[12] +"
            r"cid=\S+ +OK$",
            out,
            re.M,
        ), out
        assert (
            "keys by RFC 4733 (telephone-event through rtpengine): 1 (Mandarin), 1 (balance), "
            '12345674# (account number), 0 (agent); "1" cut the language menu after' in out
        ), out
        assert (
            "path: language -> mandarin -> main -> ask_account -> find_account -> say_balance"
            " -> after_balance -> agent; IVR result queued" in out
        ), out
        match = re.search(
            r"balance heard: 您的余额是一百二十三元四角五分，"
            r"缴费截止日期是二〇二六年十二月三十一日。"
            r" \(match (\S+) with the rendered prompt\)",
            out,
        )
        assert match is not None and float(match[1]) >= 0.9, out
        assert "IVR 8 nodes to agent (queued)  OK" in out, out
        assert "self-service call: OK (balance heard" in out, out


def _supervisor_login(out: str) -> tuple[str, str, str]:
    match = re.search(
        r"^Dashboards \(wallboard, reports with these calls\): (http://\S+)\n"
        r"  log in as '(\S+)' with password '(\S+)'",
        out,
        re.M,
    )
    assert match is not None, out
    return match[1], match[2], match[3]


def _dashboard_accounts(layout: RunLayout) -> ConfigAccounts:
    """The accounts exactly as the running dashboards read them (their settings file)."""
    settings = DashboardSettings.model_validate_json(layout.dashboard_settings.read_text())
    return ConfigAccounts(settings.callcenter_config)


def test_the_demo_prints_a_supervisor_login_that_the_dashboards_accept(
    demo: DemoStack,
) -> None:
    config = configuration.load_config(demo.config_path)
    assert config.dashboards is not None
    logins = [_supervisor_login(out) for out in demo.outputs]
    assert {url for url, _, _ in logins} == {f"http://{config.dashboards.listen}"}
    assert {user for _, user, _ in logins} == {DEMO_SUPERVISOR}
    first, last = logins[0][2], logins[-1][2]
    assert first != last  # a new password on every run
    account = _dashboard_accounts(demo.layout).get(DEMO_SUPERVISOR)
    assert account is not None and "supervisor" in account.roles
    assert verify_password(account.password_hash, last)
    assert not verify_password(account.password_hash, first)
    # Only hashes are stored, never the password.
    stored = (
        Path(str(config.accounts_file or "")).read_text()
        if config.accounts_file
        else (demo.config_path.parent / "accounts.yaml").read_text()
    )
    assert last not in stored and last not in demo.layout.runtime_config.read_text()


def _acd_login(client: AcdClient, username: str, password: str) -> pb.LoginResponse:
    return client.login(
        pb.LoginRequest(
            username=username,
            password=password,
            employee_id=int(username),
            seat=9,
            start_busy=True,
            role=pb.ROLE_AGENT,
        )
    )


def _registers(sip: str, username: str, password: str, realm: str, workdir: Path) -> bool:
    try:
        register(sip, username, password, realm, free_port(), workdir=workdir, expires=60)
    except RegistrationError:
        return False
    return True


def test_an_account_added_while_the_stack_runs_works_within_5_s(
    demo: DemoStack,
    tmp_path: Path,
) -> None:
    """`callcenter account add` on the running demo stack, no restart: within 5 s the new
    agent logs in at the ACD, its phone registers with SIP digest at Kamailio, and the
    dashboards know the account; before, all three refused it."""
    config = configuration.load_config(demo.config_path)
    assert config.acd is not None
    username, password = "1003", secrets.token_urlsafe(12)
    client = AcdClient(
        config.acd.listen, timeout=2.0, token=callcenter.acd_token(config, demo.layout)
    )
    try:
        refused = _acd_login(client, username, password)
        assert refused.error.code == pb.ERROR_CODE_AUTH_FAILED, refused
        assert not _registers(config.sip.listen, username, password, config.sip.realm, tmp_path)
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "callcenter.cli",
                "-c",
                str(demo.config_path),
                "account",
                "add",
                username,
                "--role",
                "agent",
                "--employee-id",
                username,
                "--password-stdin",
            ],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        assert "within 5 s, no restart" in added.stdout, added.stdout
        replies = []

        def logged_in() -> bool:
            replies.append(_acd_login(client, username, password))
            return replies[-1].error.code == pb.ERROR_CODE_UNSPECIFIED

        try:
            wait_until(
                logged_in, timeout=ACCOUNT_TAKES_EFFECT_S, what="the ACD to accept the new account"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its last reply: {replies[-1]}") from None
        wait_until(
            lambda: _registers(config.sip.listen, username, password, config.sip.realm, tmp_path),
            timeout=ACCOUNT_TAKES_EFFECT_S,
            what="Kamailio to accept its REGISTER",
            interval=0.2,
        )
        account = _dashboard_accounts(demo.layout).get(username)
        assert account is not None and verify_password(account.password_hash, password)
        client.logout(
            pb.LogoutRequest(employee_id=int(username), session_id=replies[-1].session_id)
        )
    finally:
        client.close()


def test_the_demo_logs_no_unexpected_warning_or_error(demo: DemoStack) -> None:
    """Every log of the stack and the demo's own output: a WARNING or ERROR that is not
    on the allow-list fails the test. Runs last, so it also covers the tests above; it
    stops the stack first, so what `callcenter down` makes the daemons log counts too."""
    assert callcenter.down(demo.layout), "the demo stack was not running"
    found = []
    sources = {f"demo run {i + 1}": out for i, out in enumerate(demo.outputs)}
    sources |= {
        log.name: log.read_text(errors="replace") for log in sorted(demo.layout.logs.glob("*.log"))
    }
    for name, text in sources.items():
        for line in text.splitlines():
            where = f"{name}: {line}"
            if WARNING_OR_WORSE.search(line) and not any(
                allowed.search(where) for allowed in ALLOWED_WARNINGS
            ):
                found.append(where)
    assert not found, "\n".join(found)
