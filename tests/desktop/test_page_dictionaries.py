"""The desktop page's two dictionaries (desktop/static/i18n/): the same keys in both,
the same {placeholders} per key, every key the page uses present, and every error code
of docs/desktop.md translated. Pure file reading: no browser, no Node."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "desktop" / "static"
LANGUAGES = ("zh", "en")


def load(lang: str) -> dict[str, str]:
    path = STATIC / "i18n" / f"{lang}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a JSON object"
    return data


@pytest.fixture(scope="module")
def dictionaries() -> dict[str, dict[str, str]]:
    return {lang: load(lang) for lang in LANGUAGES}


def documented_error_codes() -> set[str]:
    """The error codes of docs/desktop.md: `409 seat_taken`, `422 a`/`b`/`c`, 403 `csrf`,
    `409 invalid_transition` / `version_conflict`."""
    text = (ROOT / "docs" / "desktop.md").read_text(encoding="utf-8")
    codes: set[str] = set()
    for first, rest in re.findall(r"`\d{3} ([a-z_]+)`((?:\s*/\s*`[a-z_]+`)*)", text):
        codes.add(first)
        codes.update(re.findall(r"`([a-z_]+)`", rest))
    codes.update(re.findall(r"\b\d{3}\s+`([a-z_]+)`", text))
    return codes


def used_keys() -> set[str]:
    """Literal keys in the markup's data-i18n* attributes and the modules' t("...") calls."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    for module in (STATIC / "js").glob("*.js"):
        keys.update(re.findall(r'\bt\(\s*"([^"]+)"', module.read_text(encoding="utf-8")))
    return keys


def test_same_keys_in_both_languages(dictionaries: dict[str, dict[str, str]]) -> None:
    zh, en = set(dictionaries["zh"]), set(dictionaries["en"])
    assert zh - en == set(), "in zh.json only"
    assert en - zh == set(), "in en.json only"


def test_every_text_is_a_non_empty_string(dictionaries: dict[str, dict[str, str]]) -> None:
    for lang, words in dictionaries.items():
        bad = [key for key, text in words.items() if not isinstance(text, str) or not text.strip()]
        assert bad == [], f"{lang}.json: empty or not a string"


def test_placeholders_match(dictionaries: dict[str, dict[str, str]]) -> None:
    def names(text: str) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", text))

    differ = [
        k
        for k in dictionaries["zh"]
        if names(dictionaries["zh"][k]) != names(dictionaries["en"][k])
    ]
    assert differ == []


def test_the_doc_lists_error_codes() -> None:
    codes = documented_error_codes()
    # A guard on the parser itself: these are in the contract today.
    assert {
        "already_logged_in",
        "seat_taken",
        "bad_credentials",
        "csrf",
        "no_session",
        "version_conflict",
    } <= codes
    assert {"employee_id_out_of_range", "role_invalid", "invalid", "invalid_transition"} <= codes


def test_every_documented_error_code_is_translated(dictionaries: dict[str, dict[str, str]]) -> None:
    for lang, words in dictionaries.items():
        missing = sorted(code for code in documented_error_codes() if f"error.{code}" not in words)
        assert missing == [], f"{lang}.json lacks error.<code> for these"


def test_every_key_the_page_uses_exists(dictionaries: dict[str, dict[str, str]]) -> None:
    missing = sorted(used_keys() - set(dictionaries["zh"]))
    assert missing == []


@pytest.mark.parametrize(
    "prefix, values",
    [
        ("state", ("logged_out", "idle", "busy", "wrap_up", "talking", "reserved")),
        ("ticket.state", ("assigned", "in_progress", "resolved", "closed")),
        ("reason", ("break", "meal", "training", "meeting", "after_call")),
    ],
)
def test_closed_vocabularies_are_translated(
    dictionaries: dict[str, dict[str, str]], prefix: str, values: tuple[str, ...]
) -> None:
    for lang, words in dictionaries.items():
        assert [v for v in values if f"{prefix}.{v}" not in words] == [], lang


def test_default_busy_reasons_are_translated(dictionaries: dict[str, dict[str, str]]) -> None:
    from configuration import DesktopSection

    for reason in DesktopSection().busy_reasons:
        assert f"reason.{reason}" in dictionaries["en"]
