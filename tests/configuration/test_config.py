"""R-ADM-1: the YAML config is validated, and every error names its file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter._accounts import account_entry, upsert_accounts
from configuration import ConfigError, load_config, parse_config
from identity import verify_password

MINIMAL = """\
version: 1
rtpengine:
  nodes:
    - ng: 127.0.0.1:2223
trunks:
  - name: carrier
    sources: [192.0.2.0/24]
numbers:
  - number: "95598"
    category: billing
    agents: ["1001"]
accounts: []
accounts_file: accounts.yaml
"""


def test_minimal_config_gets_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.sip.workers == 4
    assert config.sip.shm_mb == 1024
    assert config.timers.ring_timeout_ms == 20_000
    assert config.numbers[0].agents == ["1001"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("192.0.2.0/24", "192.0.2.300/24"), "x.yaml:7: trunks.0.sources"),
        (MINIMAL.replace('"95598"', '"95-598"'), "x.yaml:9: numbers.0.number"),
        (MINIMAL.replace("ng: 127.0.0.1:2223", "ng: nowhere"), "x.yaml:4: rtpengine.nodes.0.ng"),
        (MINIMAL + "colour: blue\n", "x.yaml:14: colour: Extra inputs are not permitted"),
        (MINIMAL.replace("version: 1", "version: 2"), "x.yaml:1: version"),
        ("version: 1\nrtpengine: {nodes: [}\n", "x.yaml:2:21: not valid YAML"),
        ("- just\n- a list\n", "x.yaml:1: the config must be a YAML mapping"),
    ],
)
def test_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "x.yaml")
    assert expected in str(err.value)


def _port_in(field: str) -> str:
    """MINIMAL with `field` set to an address whose port is `{port}`, to be formatted."""
    braced = MINIMAL.replace("{", "{{").replace("}", "}}")
    if field == "rtpengine.nodes.0.ng":
        return braced.replace("2223", "{port}")
    if field == "trunks.0.gateway":
        return braced.replace("/24]\n", "/24]\n    gateway: 192.0.2.1:{port}\n")
    section, *rest = field.split(".")
    if section == "controllers":  # the other address of the replica stays valid
        addresses = {"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}
        addresses[rest[-1]] = "127.0.0.1:{port}"
        return (
            braced
            + "controllers:\n  - {{"
            + ", ".join(f"{k}: {v}" for k, v in addresses.items())
            + "}}\n"
        )
    return braced + f"{section}:\n  {rest[0]}: 127.0.0.1:{{port}}\n"


# Every host:port field of the config, and the line of MINIMAL + _port_in's text it is on.
PORT_FIELDS = [
    ("rtpengine.nodes.0.ng", 4),
    ("trunks.0.gateway", 8),
    ("sip.listen", 15),
    ("redis.listen", 15),
    ("acd.listen", 15),
    ("acd.advertise", 15),
    ("dashboards.listen", 15),
    ("analytics.listen", 15),
    ("controllers.0.sip", 15),
    ("controllers.0.control", 15),
]


@pytest.mark.parametrize("port", ["0", "65536", "70000", "99999"])
@pytest.mark.parametrize(("field", "line"), PORT_FIELDS)
def test_ports_out_of_range_are_refused_naming_the_field(field: str, line: int, port: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_port_in(field).format(port=port), "x.yaml")
    assert str(err.value) == (
        f"x.yaml:{line}: {field}: Value error, port {port} in "
        f"'{ADDRESS_HOST[field]}:{port}' is out of range: a port is "
        "1 to 65535"
    )


ADDRESS_HOST = {field: "127.0.0.1" for field, _ in PORT_FIELDS} | {"trunks.0.gateway": "192.0.2.1"}


@pytest.mark.parametrize("port", ["1", "4711", "65535"])
@pytest.mark.parametrize(("field", "line"), PORT_FIELDS)
def test_ports_in_range_are_accepted(field: str, line: int, port: str) -> None:
    value: object = parse_config(_port_in(field).format(port=port), "x.yaml")
    for part in field.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)  # type: ignore[index]
    assert value == f"{ADDRESS_HOST[field]}:{port}"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("clickhouse://default@127.0.0.1:0/cc", "port 0 in clickhouse_dsn is out of range"),
        ("clickhouse://default@127.0.0.1:70000/cc", "clickhouse_dsn: Port out of range"),
    ],
)
def test_clickhouse_dsn_port_out_of_range_is_refused(dsn: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(MINIMAL + f"analytics:\n  clickhouse_dsn: {dsn}\n", "x.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The fault's line and column, and the line itself with a caret under it.
        (
            "version: 1\nrtpengine:\n  nodes: [1\n",
            "x.yaml:4:1: not valid YAML: expected ',' or"
            " ']', but got '<stream end>' (while parsing a flow sequence that starts at line 3,"
            " column 10)",
        ),
        (
            "version: 1\n rtpengine: 2\n",
            "x.yaml:2:11: not valid YAML: mapping values are not"
            " allowed here\n     rtpengine: 2\n              ^",
        ),
        (
            'version: 1\nsip: {realm: "x}\n',
            "x.yaml:3:1: not valid YAML: found unexpected end "
            "of stream (while scanning a quoted scalar that starts at line 2, column 14)",
        ),
        (
            "version: 1\nsip:\n\trealm: x\n",
            "x.yaml:3:1: not valid YAML: found character '\\t' that cannot start any token",
        ),
        (
            "version: 1\nsip: !!python/object x\n",
            "x.yaml:2:6: not valid YAML: could not determine a constructor",
        ),
        ("version: 1\nsip: \x07\n", "x.yaml:2:6: not valid YAML: character #x0007 is not allowed"),
    ],
)
def test_yaml_syntax_errors_name_file_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "x.yaml")
    assert expected in str(err.value)
    assert "<unicode string>" not in str(err.value)


def test_yaml_syntax_error_in_the_accounts_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "cc.yaml").write_text(MINIMAL)
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - username: '1001'\n    roles: [agent\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "cc.yaml")
    assert str(err.value).startswith(f"{accounts}:4:1: not valid YAML: expected ',' or ']'")
    # `account add` refuses to rewrite it (that would lose the accounts in it).
    before = accounts.read_text()
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(accounts))}:4:1: not valid YAML"):
        upsert_accounts(accounts, [account_entry("1002", "correct horse", "r", ["agent"])])
    assert accounts.read_text() == before


def test_bad_regex_is_refused_with_its_line() -> None:
    text = MINIMAL + "numbering:\n  caller_rules:\n    - {match: '(unclosed', replace: ''}\n"
    with pytest.raises(ConfigError, match=r"x.yaml:16: numbering.caller_rules.0.match.*regular"):
        parse_config(text, "x.yaml")


def test_clear_text_password_is_refused() -> None:
    text = MINIMAL.replace(
        "accounts: []", "accounts:\n  - username: '1001'\n    roles: [agent]\n    password: pw"
    )
    with pytest.raises(ConfigError, match=r"x.yaml:15: accounts.0.password: clear-text"):
        parse_config(text, "x.yaml")


def test_number_routed_to_unknown_agent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(ConfigError, match="unknown agent '1001'"):
        load_config(path)


def test_duplicate_numbers_are_refused() -> None:
    text = MINIMAL.replace(
        "accounts: []",
        "  - number: '95598'\n    category: again\n    agents: ['1001']\naccounts: []",
    )
    with pytest.raises(ConfigError, match="numbers listed twice: 95598"):
        parse_config(text, "x.yaml")


def test_accounts_file_stores_hashes_only_and_merges(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(MINIMAL)
    upsert_accounts(
        tmp_path / "accounts.yaml",
        [account_entry("1001", "correct horse", "huaan.local", ["agent"])],
    )
    stored = (tmp_path / "accounts.yaml").read_text()
    assert "correct horse" not in stored
    assert (tmp_path / "accounts.yaml").stat().st_mode & 0o077 == 0
    config = load_config(path)
    (account,) = config.accounts
    assert verify_password(account.password_hash, "correct horse")
    assert not verify_password(account.password_hash, "wrong")


def test_shipped_demo_config_is_valid_apart_from_generated_accounts() -> None:
    demo = Path(__file__).resolve().parents[2] / "config" / "callcenter.yaml"
    config = parse_config(demo.read_text(), str(demo))
    assert config.numbers and config.trunks and config.accounts_file


CONTROLLER_NUMBER = MINIMAL.replace(
    "accounts: []",
    "  - number: '95599'\n    category: outage\n    target: controller\naccounts: []",
)
CONTROLLERS = """\
controllers:
  - sip: 127.0.0.1:5070
    control: 127.0.0.1:5071
  - sip: 127.0.0.1:5072
    control: 127.0.0.1:5073
    managed: false
"""


def test_number_with_target_controller_and_controller_replicas() -> None:
    config = parse_config(CONTROLLER_NUMBER + CONTROLLERS, "x.yaml")
    assert [n.target for n in config.numbers] == ["agents", "controller"]
    assert config.numbers[1].agents == []
    assert [(c.sip, c.managed) for c in config.controllers] == [
        ("127.0.0.1:5070", True),
        ("127.0.0.1:5072", False),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A controller number needs a replica to go to: the error names the target line.
        (CONTROLLER_NUMBER, r"x.yaml:14: numbers.1.target: number 95599 has target controller"),
        (
            CONTROLLER_NUMBER.replace("target: controller", "target: ivr") + CONTROLLERS,
            r"x.yaml:14: numbers.1.target: Input should be 'agents' or 'controller'",
        ),
        (
            CONTROLLER_NUMBER.replace("target: controller", "target: controller\n    agents: [a]")
            + CONTROLLERS,
            r"x.yaml:12: numbers.1: Value error, a number with target controller",
        ),
        (
            MINIMAL.replace('    agents: ["1001"]\n', ""),
            r"x.yaml:9: numbers.0: Value error, a number with target agents needs",
        ),
        (
            CONTROLLER_NUMBER + CONTROLLERS.replace("5073", "5071"),
            r"control address listed twice: 127.0.0.1:5071",
        ),
        (
            CONTROLLER_NUMBER + CONTROLLERS.replace("    control: 127.0.0.1:5071\n", ""),
            r"x.yaml:18: controllers.0.control: Field required",
        ),
    ],
)
def test_controller_config_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(text, "x.yaml")
