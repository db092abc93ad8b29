"""Parsing ul.dump: fixtures are real results captured from Kamailio 5.6 (see
capture_ul_dump.py); the variations change one field of a real contact."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from presence import DumpFormatError, registered_users

HERE = Path(__file__).resolve().parent


def real_dump() -> Any:
    return json.loads((HERE / "ul_dump.json").read_text())


def contact(dump: Any, aor: str) -> dict[str, Any]:
    (info,) = [a["Info"] for a in dump["Domains"][0]["Domain"]["AoRs"] if a["Info"]["AoR"] == aor]
    result: dict[str, Any] = info["Contacts"][0]["Contact"]
    return result


def test_a_live_contact_counts_and_an_expired_one_waiting_for_removal_does_not() -> None:
    dump = real_dump()
    assert contact(dump, "1002")["Expires"] == "expired"  # what the fixture holds
    assert registered_users(dump) == {"1001"}


def test_an_empty_location_table_is_nobody() -> None:
    assert registered_users(json.loads((HERE / "ul_dump_empty.json").read_text())) == set()


@pytest.mark.parametrize(
    ("expires", "registered"),
    [(1, True), ("permanent", True), (0, False), ("deleted", False), ("expired", False)],
)
def test_expires_values(expires: object, registered: bool) -> None:
    dump = real_dump()
    contact(dump, "1002")["Expires"] = expires
    assert ("1002" in registered_users(dump)) is registered


def test_one_live_contact_of_several_is_enough() -> None:
    dump = real_dump()
    (aor,) = [a for a in dump["Domains"][0]["Domain"]["AoRs"] if a["Info"]["AoR"] == "1002"]
    live = copy.deepcopy(aor["Info"]["Contacts"][0])
    live["Contact"]["Expires"] = 120
    aor["Info"]["Contacts"].append(live)
    assert registered_users(dump) == {"1001", "1002"}


def test_an_aor_with_a_domain_is_its_user() -> None:
    dump = real_dump()
    dump["Domains"][0]["Domain"]["AoRs"][1]["Info"]["AoR"] = "1001@huaan.test"
    assert registered_users(dump) == {"1001"}


def test_other_tables_are_not_read() -> None:
    dump = real_dump()
    other = copy.deepcopy(dump["Domains"][0])
    other["Domain"]["Domain"] = "location_backup"
    contact({"Domains": [other]}, "1002")["Expires"] = 300
    dump["Domains"].append(other)
    assert registered_users(dump) == {"1001"}


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d.clear(),
        lambda d: d.update(Domains={}),
        lambda d: d["Domains"][0]["Domain"].update(Domain="other"),
        lambda d: d["Domains"][0]["Domain"].pop("AoRs"),
        lambda d: d["Domains"][0]["Domain"]["AoRs"][0]["Info"].update(Contacts=None),
        lambda d: d["Domains"][0]["Domain"]["AoRs"][0]["Info"]["Contacts"][0]["Contact"].update(
            Expires="soon"
        ),
        lambda d: d["Domains"][0]["Domain"]["AoRs"][0]["Info"]["Contacts"][0]["Contact"].update(
            Expires=True
        ),
    ],
    ids=[
        "no-domains",
        "domains-not-a-list",
        "no-location-table",
        "no-aors",
        "contacts-not-a-list",
        "unknown-expires",
        "boolean-expires",
    ],
)
def test_another_shape_is_refused_not_read_as_nobody(break_it: Any) -> None:
    dump = real_dump()
    break_it(dump)
    with pytest.raises(DumpFormatError):
        registered_users(dump)


def test_a_result_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(DumpFormatError, match="Domains"):
        registered_users([])
