"""The `bizdata:` section: defaults, and every error with its file and line."""

from __future__ import annotations

import pytest

from configuration import (
    BizdataSection,
    ConfigError,
    HttpSourceSpec,
    SqlSourceSpec,
    StoreSourceSpec,
    parse_config,
)

HEAD = """\
version: 1
rtpengine:
  nodes:
    - ng: 127.0.0.1:2223
"""


def test_no_section_no_store() -> None:
    assert parse_config(HEAD).bizdata is None


def test_defaults() -> None:
    section = parse_config(HEAD + "bizdata: {}\n").bizdata
    assert section is not None
    assert section.url is None
    assert section.sources == {"accounts": StoreSourceSpec(kind="store", deadline_ms=500)}


def test_accounts_stays_the_store_beside_other_sources() -> None:
    text = HEAD + (
        "bizdata:\n"
        "  url: postgresql+psycopg://cc@db.example/cc\n"
        "  password_env: CC_DB_PASSWORD\n"
        "  sources:\n"
        "    billing:\n"
        "      kind: http\n"
        '      url: "https://billing.example/api/accounts/{key}?format=json"\n'
        "      headers: {Accept-Language: zh-CN}\n"
        "      headers_env: {Authorization: BILLING_AUTH}\n"
        "      deadline_ms: 800\n"
        "    crm:\n"
        "      kind: sql\n"
        "      url: sqlite:///crm.sqlite\n"
        '      query: "SELECT name, amount_due AS balance FROM bills WHERE no = :key"\n'
    )
    section = parse_config(text).bizdata
    assert section is not None
    assert set(section.sources) == {"accounts", "billing", "crm"}
    assert isinstance(section.sources["accounts"], StoreSourceSpec)
    billing = section.sources["billing"]
    assert isinstance(billing, HttpSourceSpec)
    assert billing.headers_env == {"Authorization": "BILLING_AUTH"}
    assert billing.deadline_ms == 800
    assert isinstance(section.sources["crm"], SqlSourceSpec)


def test_accounts_can_be_pointed_elsewhere() -> None:
    section = BizdataSection.model_validate(
        {"sources": {"accounts": {"kind": "http", "url": "http://billing.local/a/{key}"}}}
    )
    assert list(section.sources) == ["accounts"]
    assert isinstance(section.sources["accounts"], HttpSourceSpec)


SOURCE = HEAD + "bizdata:\n  sources:\n    billing:\n"  # the source's keys start on line 8


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "      kind: ftp\n",
            "x.yaml:7: bizdata.sources.billing: Input tag 'ftp' found using 'kind'",
        ),
        ("      kind: http\n", "x.yaml:7: bizdata.sources.billing.url: Field required"),
        (
            '      kind: http\n      url: "http://x/{key}/{id}"\n',
            "x.yaml:9: bizdata.sources.billing.url: Value error, url template "
            "'http://x/{key}/{id}' needs {key} and nothing else in braces (found {id})",
        ),
        (
            '      kind: http\n      url: "http://x/accounts"\n',
            "x.yaml:9: bizdata.sources.billing.url: Value error, url template "
            "'http://x/accounts' needs {key}",
        ),
        (
            '      kind: http\n      url: "ftp://x/{key}"\n',
            "x.yaml:9: bizdata.sources.billing.url: Value error, url template "
            "'ftp://x/{key}' must be an http:// or https:// URL",
        ),
        (
            '      kind: http\n      url: "http://x/{key}"\n      headers: {X-Api-Key: abc}\n',
            "x.yaml:10: bizdata.sources.billing.headers: Value error, header X-Api-Key looks "
            "like a credential",
        ),
        (
            '      kind: http\n      url: "http://x/{key}"\n'
            "      headers_env: {Authorization: 1X}\n",
            "x.yaml:10: bizdata.sources.billing.headers_env.Authorization: String should match",
        ),
        (
            '      kind: http\n      url: "http://x/{key}"\n      timeout: 5\n',
            "x.yaml:10: bizdata.sources.billing.timeout: Extra inputs are not permitted",
        ),
        (
            '      kind: http\n      url: "http://x/{key}"\n      deadline_ms: 0\n',
            "x.yaml:10: bizdata.sources.billing.deadline_ms: Input should be greater than",
        ),
        (
            "      kind: sql\n      url: sqlite:///crm.sqlite\n"
            "      query: DELETE FROM bills WHERE no = :key\n",
            "x.yaml:10: bizdata.sources.billing.query: Value error, query must be a SELECT",
        ),
        (
            "      kind: sql\n      url: sqlite:///crm.sqlite\n"
            "      query: SELECT * FROM bills WHERE no = :keys\n",
            "x.yaml:10: bizdata.sources.billing.query: Value error, query needs the bind "
            "parameter :key",
        ),
        (
            "      kind: sql\n      url: postgresql://crm:hunter2@db/crm\n"
            "      query: SELECT * FROM bills WHERE no = :key\n",
            "x.yaml:9: bizdata.sources.billing.url: Value error, clear-text password in the URL",
        ),
        (
            "      kind: sql\n      url: crm.sqlite\n      query: SELECT 1 WHERE :key = 1\n",
            "x.yaml:9: bizdata.sources.billing.url: Value error, not a database URL",
        ),
        (
            "      kind: store\n      query: SELECT 1\n",
            "x.yaml:9: bizdata.sources.billing.query: Extra inputs are not permitted",
        ),
    ],
)
def test_source_errors_name_file_and_line(body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(SOURCE + body, "x.yaml")
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("  url: postgresql+psycopg://cc:pw@db/cc\n", "x.yaml:6: bizdata.url: Value error, "),
        ("  password_env: 9LIVES\n", "x.yaml:6: bizdata.password_env: String should match"),
        ("  colour: blue\n", "x.yaml:6: bizdata.colour: Extra inputs are not permitted"),
        ("  sources:\n    bad name!: {kind: store}\n", "x.yaml:7: bizdata.sources.bad name!"),
    ],
)
def test_section_errors_name_file_and_line(section: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD + "bizdata:\n" + section, "x.yaml")
    assert expected in str(err.value)
