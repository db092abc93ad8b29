"""The desk API on SQLite and on PostgreSQL: customer records with their version check,
the screen pop's lookup, search, complaints, tickets and their moves, wrap-ups.

One store per backend for the module (the demo seeded); each test makes the records
it needs, with names of its own, so the tests do not see each other's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import bizdata
from bizdata import InUse, InvalidField, InvalidTransition, NotFound, VersionConflict
from testbed import create_database

UNITS = {"billing": 72, "repair": 4, "metering": 48}
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('desk') / 'store.sqlite'}"
    else:
        url = create_database(request.getfixturevalue("postgres_url"), "desk")
    bizdata.seed_demo(url)
    engine = bizdata.open_engine(url)
    yield engine
    engine.dispose()


def unique_phone() -> str:
    return "19" + str(uuid.uuid4().int)[:9]


def new_customer(store: Engine, name: str | None = None, **fields: Any) -> dict[str, Any]:
    return bizdata.create_customer(
        store,
        {"name": name or f"客户{uuid.uuid4().hex[:6]}", "phone": unique_phone(), **fields},
        by="agent1",
    )


def new_complaint(store: Engine, customer_id: int, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "call_id": None,
        "recording_ref": None,
        "category": "billing",
        "description": "电费比上月高出很多",
        "by": "agent1",
    }
    return bizdata.create_complaint(store, customer_id=customer_id, **(values | fields))


def new_ticket(store: Engine, unit: str = "billing", now: datetime = T0) -> dict[str, Any]:
    complaint = new_complaint(store, new_customer(store)["id"])
    return bizdata.create_ticket(
        store,
        complaint_id=complaint["id"],
        unit=unit,
        overdue_after_h=UNITS[unit],
        by="agent1",
        now=now,
    )


def move(store: Engine, ticket: dict[str, Any], to: str, **kw: Any) -> dict[str, Any]:
    return bizdata.transition_ticket(
        store,
        ticket["id"],
        to=to,
        by=kw.pop("by", "agent2"),
        note=kw.pop("note", None),
        version=ticket["version"],
        now=kw.pop("now", T0 + timedelta(hours=1)),
        **kw,
    )


# -- the screen pop ---------------------------------------------------------------------
def test_the_screen_pop_finds_by_account_first_then_by_phone(store: Engine) -> None:
    by_account = bizdata.find_customer_for_call(store, account="12345674", phone="13800138000")
    assert by_account is not None
    assert (by_account["name"], by_account["matched_by"]) == ("张伟", "account")
    assert by_account["accounts"][0] == {
        "account_number": "12345674",
        "service_address": "北京市朝阳区建国路88号3单元502室",
        "balance": "123.45",
        "due_date": "2026-12-31",
        "status": "active",
        "last_payment_date": "2026-11-30",
        "last_payment_amount": "200.00",
    }
    by_phone = bizdata.find_customer_for_call(store, account="99999999", phone="13800138000")
    assert by_phone is not None
    assert (by_phone["name"], by_phone["matched_by"]) == ("李娜", "phone")
    assert bizdata.find_customer_for_call(store, account=None, phone="10000") is None
    assert bizdata.find_customer_for_call(store, account="", phone=None) is None
    json.dumps(by_account)  # JSON-able as it is


# -- customer records -------------------------------------------------------------------
def test_create_get_update_with_versions(store: Engine) -> None:
    created = new_customer(store, "赵敏", phone="139 1111-2222", email="zm@example.cn")
    assert created["phone"] == "13911112222"
    assert (created["language"], created["customer_type"], created["version"]) == (
        "zh",
        "resident",
        1,
    )
    assert created["accounts"] == [] and created["updated_by"] == "agent1"
    assert bizdata.get_customer(store, created["id"]) == created
    updated = bizdata.update_customer(
        store,
        created["id"],
        {**created, "address": "杭州市西湖区", "customer_type": "business", "email": ""},
        version=1,
        by="agent2",
    )
    assert (updated["address"], updated["customer_type"], updated["email"]) == (
        "杭州市西湖区",
        "business",
        None,
    )
    assert (updated["version"], updated["updated_by"]) == (2, "agent2")
    unchanged = bizdata.update_customer(store, created["id"], {"name": "赵敏"}, version=2, by="x")
    assert unchanged["version"] == 2
    json.dumps(updated)


def test_a_stale_version_is_refused_with_the_current_record(store: Engine) -> None:
    customer = new_customer(store)
    bizdata.update_customer(store, customer["id"], {"notes": "第一次"}, version=1, by="agent2")
    with pytest.raises(VersionConflict, match=r"changed by agent2 .*version 1, now 2") as refused:
        bizdata.update_customer(store, customer["id"], {"notes": "覆盖"}, version=1, by="agent3")
    assert refused.value.current["notes"] == "第一次"
    assert refused.value.current["version"] == 2
    with pytest.raises(VersionConflict):
        bizdata.delete_customer(store, customer["id"], version=1)
    assert bizdata.get_customer(store, customer["id"])["notes"] == "第一次"
    with pytest.raises(InvalidField) as refused:
        bizdata.update_customer(store, customer["id"], {}, version="2", by="a")  # type: ignore[arg-type]
    assert refused.value.field == "version"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "  ", "phone": "139"}, "name", "must not be empty"),
        ({"name": "x" * 101, "phone": "139"}, "name", "at most 100"),
        ({"phone": "13900001111"}, "name", "is required"),
        ({"name": "x"}, "phone", "is required"),
        ({"name": "x", "phone": "12"}, "phone", "3 to 20 digits"),
        ({"name": "x", "phone": "139abc"}, "phone", "3 to 20 digits"),
        ({"name": "x", "phone": 139}, "phone", "must be text"),
        ({"name": "x", "phone": "139", "email": "not-an-email"}, "email", "not an email"),
        ({"name": "x", "phone": "139", "language": "fr"}, "language", "zh, en"),
        ({"name": "x", "phone": "139", "customer_type": "vip"}, "customer_type", "resident"),
        ({"name": "x", "phone": "139", "notes": "n" * 2001}, "notes", "at most 2000"),
        ({"name": "x", "phone": "139", "id_number": "110101"}, "id_number", "not a customer"),
    ],
)
def test_invalid_fields_are_refused_by_name(
    store: Engine, fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidField, match=message) as refused:
        bizdata.create_customer(store, fields, by="agent1")
    assert refused.value.field == field


def test_an_update_is_validated_too_and_changes_nothing_when_refused(store: Engine) -> None:
    customer = new_customer(store)
    with pytest.raises(InvalidField) as refused:
        bizdata.update_customer(store, customer["id"], {"phone": "x"}, version=1, by="a")
    assert refused.value.field == "phone"
    assert bizdata.get_customer(store, customer["id"]) == customer


def test_unknown_customers_are_not_found(store: Engine) -> None:
    for action in (
        lambda: bizdata.get_customer(store, 10**9),
        lambda: bizdata.update_customer(store, 10**9, {}, version=1, by="a"),
        lambda: bizdata.delete_customer(store, 10**9, version=1),
        lambda: new_complaint(store, 10**9),
    ):
        with pytest.raises(NotFound, match="no customer 1000000000"):
            action()


def test_delete_is_refused_while_accounts_or_open_tickets_hold_the_customer(
    store: Engine,
) -> None:
    owner = bizdata.find_customer_for_call(store, account="10000008", phone=None)
    assert owner is not None
    with pytest.raises(InUse, match=r"still have 1 account\(s\)"):
        bizdata.delete_customer(store, owner["id"], version=owner["version"])
    ticket = new_ticket(store)
    customer_id = ticket["customer_id"]
    with pytest.raises(InUse, match=r"1 ticket\(s\) not closed"):
        bizdata.delete_customer(store, customer_id, version=1)
    ticket = move(store, ticket, "in_progress")
    ticket = move(store, ticket, "resolved")
    with pytest.raises(InUse):  # resolved may be reopened: still open
        bizdata.delete_customer(store, customer_id, version=1)
    move(store, ticket, "closed")
    bizdata.delete_customer(store, customer_id, version=1)
    with pytest.raises(NotFound):
        bizdata.get_customer(store, customer_id)
    with pytest.raises(NotFound):  # its complaints and closed tickets went with it
        bizdata.get_ticket(store, ticket["id"])


# -- search -----------------------------------------------------------------------------
def test_search_by_name_fragment_phone_and_account(store: Engine) -> None:
    tag = uuid.uuid4().hex[:4]
    zh = new_customer(store, f"欧阳明{tag}", phone="17712345678")
    en = new_customer(store, f"Margaret Thatcher{tag}")

    def ids(query: str) -> list[int]:
        return [c["id"] for c in bizdata.search_customers(store, query)]

    assert zh["id"] in ids("欧阳明")  # three characters: a trigram
    assert zh["id"] in ids("阳明" + tag[:1])  # anywhere in the name
    assert zh["id"] in ids("欧阳")  # two: the start of a name
    assert zh["id"] not in ids("阳明")  # two, not at the start: no trigram to look in
    assert en["id"] in ids("THATCHER" + tag)  # any case
    assert en["id"] in ids("garet")
    assert zh["id"] in ids("2345678")  # a piece of the phone
    assert ids("177 1234 5678")[:1] == [zh["id"]]  # the whole phone, typed with spaces
    found = bizdata.search_customers(store, "12345674")
    assert [(c["name"], c["account_numbers"]) for c in found] == [("张伟", ["12345674"])]
    assert "张伟" in [c["name"] for c in bizdata.search_customers(store, "234567")]
    assert "张伟" in [c["name"] for c in bizdata.search_customers(store, "12")]  # a prefix
    json.dumps(found)


def test_search_follows_edits_and_deletes(store: Engine) -> None:
    tag = uuid.uuid4().hex[:6]
    customer = new_customer(store, f"改名前{tag}")
    assert [c["id"] for c in bizdata.search_customers(store, f"名前{tag}")] == [customer["id"]]
    bizdata.update_customer(store, customer["id"], {"name": f"改名后{tag}"}, version=1, by="a")
    assert bizdata.search_customers(store, f"名前{tag}") == []
    assert [c["id"] for c in bizdata.search_customers(store, f"名后{tag}")] == [customer["id"]]
    bizdata.delete_customer(store, customer["id"], version=2)
    assert bizdata.search_customers(store, f"名后{tag}") == []


def test_search_takes_any_text_and_returns_at_most_twenty(store: Engine) -> None:
    for query in ('"', 'a"b OR c*', "%_%", "NEAR(x y)", "名字:", "\\"):
        assert isinstance(bizdata.search_customers(store, query), list)
    # Every generated demo phone starts with 1: far more than 20 match.
    assert len(bizdata.search_customers(store, "13")) == 20
    assert len(bizdata.search_customers(store, "13", limit=5)) == 5
    for empty in ("", "   "):
        with pytest.raises(InvalidField, match="type a name"):
            bizdata.search_customers(store, empty)


# -- complaints -------------------------------------------------------------------------
def test_complaints_are_recorded_and_searched(store: Engine) -> None:
    customer = new_customer(store)
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    first = new_complaint(
        store,
        customer["id"],
        call_id=call_id,
        recording_ref=f"rec:{call_id}",
        description=f"停电三天没人处理 {tag}",
    )
    assert (first["call_id"], first["recording_ref"], first["customer_name"]) == (
        call_id,
        f"rec:{call_id}",
        customer["name"],
    )
    second = new_complaint(store, customer["id"], category="metering", description="电表走得快")

    def ids(**criteria: Any) -> list[int]:
        return [c["id"] for c in bizdata.search_complaints(store, **criteria)]

    assert ids(customer_id=customer["id"]) == [second["id"], first["id"]]  # newest first
    assert ids(text=f"没人处理 {tag}") == [first["id"]]
    assert ids(text="电表", customer_id=customer["id"]) == [second["id"]]  # short: LIKE
    assert ids(call_id=call_id) == [first["id"]]
    assert ids(call_id=call_id, text="电表") == []
    with pytest.raises(InvalidField, match="give a customer"):
        bizdata.search_complaints(store)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category": "Not A Code"}, "category"),
        ({"description": " "}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"call_id": "c" * 65}, "call_id"),
        ({"by": ""}, "by"),
    ],
)
def test_invalid_complaints_are_refused(store: Engine, fields: dict[str, Any], field: str) -> None:
    customer = new_customer(store)
    with pytest.raises(InvalidField) as refused:
        new_complaint(store, customer["id"], **fields)
    assert refused.value.field == field


# -- tickets ----------------------------------------------------------------------------
def test_a_ticket_goes_the_whole_way_with_its_history(store: Engine) -> None:
    ticket = new_ticket(store)
    assert (ticket["status"], ticket["unit"], ticket["version"]) == ("assigned", "billing", 1)
    assert ticket["due_at"] == (T0 + timedelta(hours=72)).isoformat()
    assert ticket["complaint"]["tickets"][0]["id"] == ticket["id"]
    ticket = move(store, ticket, "in_progress", by="fixer", note="查看中")
    assert ticket["assignee"] == "fixer"
    ticket = move(store, ticket, "resolved", note="已退费")
    ticket = move(store, ticket, "in_progress", note="客户不满意")  # reopened
    ticket = move(store, ticket, "resolved")
    ticket = move(store, ticket, "closed")
    assert ticket["version"] == 6
    assert [(h["from"], h["to"], h["by"]) for h in ticket["history"]] == [
        (None, "assigned", "agent1"),
        ("assigned", "in_progress", "fixer"),
        ("in_progress", "resolved", "agent2"),
        ("resolved", "in_progress", "agent2"),
        ("in_progress", "resolved", "agent2"),
        ("resolved", "closed", "agent2"),
    ]
    assert ticket["history"][1] == {
        "at": (T0 + timedelta(hours=1)).isoformat(),
        "by": "fixer",
        "from": "assigned",
        "to": "in_progress",
        "unit": "billing",
        "note": "查看中",
    }
    assert bizdata.get_ticket(store, ticket["id"]) == {**ticket, "overdue": False}
    json.dumps(ticket)


def test_dispatching_again_moves_the_ticket_and_its_due_time(store: Engine) -> None:
    ticket = move(store, new_ticket(store), "in_progress")
    later = T0 + timedelta(hours=5)
    ticket = move(store, ticket, "assigned", unit="repair", overdue_after_h=4, now=later)
    assert (ticket["status"], ticket["unit"], ticket["assignee"]) == ("assigned", "repair", None)
    assert ticket["due_at"] == (later + timedelta(hours=4)).isoformat()
    assert ticket["history"][-1]["unit"] == "repair"
    ticket = move(store, ticket, "assigned", unit="metering", overdue_after_h=48, now=later)
    assert ticket["unit"] == "metering"


@pytest.mark.parametrize(
    ("path", "to", "extra", "message"),
    [
        ([], "resolved", {}, "assigned: it can go to in_progress, not to resolved"),
        ([], "closed", {}, "it can go to in_progress, not to closed"),
        (["in_progress"], "closed", {}, "in_progress: it can go to resolved, not to closed"),
        (["in_progress"], "assigned", {}, "only when dispatched to another unit"),
        (["in_progress", "resolved", "closed"], "in_progress", {}, "closed for good"),
        ([], "in_progress", {"unit": "repair", "overdue_after_h": 4}, "makes it assigned"),
        ([], "assigned", {"unit": "billing", "overdue_after_h": 4}, "already with billing"),
        (
            ["in_progress", "resolved"],
            "assigned",
            {"unit": "repair", "overdue_after_h": 4},
            "reopen it first",
        ),
    ],
)
def test_invalid_transitions_are_refused(
    store: Engine, path: list[str], to: str, extra: dict[str, Any], message: str
) -> None:
    ticket = new_ticket(store)
    for step in path:
        ticket = move(store, ticket, step)
    with pytest.raises(InvalidTransition, match=message):
        move(store, ticket, to, **extra)
    assert bizdata.get_ticket(store, ticket["id"])["version"] == ticket["version"]


def test_ticket_refusals_of_fields_versions_and_ids(store: Engine) -> None:
    ticket = new_ticket(store)
    with pytest.raises(InvalidField) as refused:
        move(store, ticket, "done")
    assert refused.value.field == "to"
    with pytest.raises(InvalidField, match="overdue_after_h: is needed"):
        move(store, ticket, "assigned", unit="repair")
    with pytest.raises(InvalidField, match="note: is 2001 characters"):
        move(store, ticket, "in_progress", note="n" * 2001)
    moved = move(store, ticket, "in_progress")
    with pytest.raises(VersionConflict, match="version 1, now 2") as conflict:
        move(store, ticket, "in_progress")  # read at version 1
    assert conflict.value.current["status"] == "in_progress"
    assert conflict.value.current["history"] == moved["history"]
    with pytest.raises(NotFound, match="no ticket"):
        bizdata.get_ticket(store, 10**9)
    with pytest.raises(NotFound, match="no ticket"):
        bizdata.transition_ticket(store, 10**9, to="closed", by="a", note=None, version=1)
    with pytest.raises(NotFound, match="no complaint"):
        bizdata.create_ticket(store, complaint_id=10**9, unit="repair", overdue_after_h=4, by="a")
    with pytest.raises(InvalidField) as unit:
        bizdata.create_ticket(
            store, complaint_id=ticket["complaint_id"], unit="Repair!", overdue_after_h=4, by="a"
        )
    assert unit.value.field == "unit"
    with pytest.raises(InvalidField) as hours:
        bizdata.create_ticket(
            store, complaint_id=ticket["complaint_id"], unit="repair", overdue_after_h=0, by="a"
        )
    assert hours.value.field == "overdue_after_h"
    with pytest.raises(InvalidField, match="time zone"):
        bizdata.get_ticket(store, ticket["id"], now=datetime(2026, 1, 1))


def test_a_units_queue_flags_the_overdue(store: Engine) -> None:
    unit = f"u-{uuid.uuid4().hex[:8]}"
    UNITS[unit] = 2
    try:
        early = new_ticket(store, unit, now=T0)  # due T0 + 2 h
        late = new_ticket(store, unit, now=T0 + timedelta(hours=3))  # due T0 + 5 h
        done = move(store, move(store, new_ticket(store, unit, now=T0), "in_progress"), "resolved")
    finally:
        del UNITS[unit]
    at = T0 + timedelta(hours=4)
    queue = bizdata.list_tickets(store, unit=unit, now=at)
    assert [(t["id"], t["overdue"]) for t in queue] == [
        (early["id"], True),
        (done["id"], False),  # resolved: no longer overdue, whatever its due time
        (late["id"], False),
    ]
    assert [t["id"] for t in bizdata.list_tickets(store, unit=unit, overdue_only=True, now=at)] == [
        early["id"]
    ]
    assert [t["id"] for t in bizdata.list_tickets(store, unit=unit, status="resolved")] == [
        done["id"]
    ]
    assert queue[0]["customer_name"] and queue[0]["category"] == "billing"
    with pytest.raises(InvalidField) as refused:
        bizdata.list_tickets(store, status="open")
    assert refused.value.field == "status"


# -- wrap-ups ---------------------------------------------------------------------------
def test_a_wrap_up_is_saved_once_per_agent_and_call(store: Engine) -> None:
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    assert bizdata.get_wrap_up(store, call_id, 7) is None
    saved = bizdata.save_wrap_up(
        store, call_id=call_id, employee_id=7, username="agent1", code="resolved", note="已解释"
    )
    assert (saved["code"], saved["note"]) == ("resolved", "已解释")
    again = bizdata.save_wrap_up(
        store, call_id=call_id, employee_id=7, username="agent1", code="follow_up", note=""
    )
    assert (again["code"], again["note"]) == ("follow_up", None)
    assert bizdata.get_wrap_up(store, call_id, 7) == again
    other = bizdata.save_wrap_up(
        store, call_id=call_id, employee_id=8, username="agent2", code="resolved", note=None
    )
    assert bizdata.get_wrap_up(store, call_id, 8) == other
    json.dumps(again)
    for fields, field in (
        ({"code": "Bad Code"}, "code"),
        ({"note": "n" * 2001}, "note"),
        ({"employee_id": 0}, "employee_id"),
        ({"call_id": ""}, "call_id"),
    ):
        values: dict[str, Any] = {
            "call_id": call_id,
            "employee_id": 7,
            "username": "agent1",
            "code": "resolved",
            "note": None,
        }
        with pytest.raises(InvalidField) as refused:
            bizdata.save_wrap_up(store, **(values | fields))
        assert refused.value.field == field


# -- the bulk seed ----------------------------------------------------------------------
def test_the_bulk_seed_is_searchable_and_safe_to_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bulk.sqlite'}"
    assert bizdata.seed_bulk(url, customers=300) == 300
    assert bizdata.seed_bulk(url, customers=300) == 0
    with pytest.raises(bizdata.StoreError, match="holds a bulk of about 300 customers"):
        bizdata.seed_bulk(url, customers=200)
    from bizdata._bulk_seed import bulk_customer

    engine = bizdata.open_engine(url)
    try:
        some = bulk_customer(123)
        found = bizdata.find_customer_for_call(engine, account=some.account_number, phone=None)
        assert found is not None and found["name"] == some.name
        assert found["phone"] == some.phone
        assert some.name in [c["name"] for c in bizdata.search_customers(engine, some.name)]
        phones = {bulk_customer(i).phone for i in range(300)}
        assert len(phones) == 300
    finally:
        engine.dispose()


def test_the_fair_gate_serves_in_arrival_order() -> None:
    import threading

    from bizdata._fair import FairGate
    from testbed import wait_until

    gate = FairGate(1)
    served: list[int] = []

    def waiter(n: int) -> None:
        with gate.turn():
            served.append(n)

    threads = []
    with gate.turn():  # the only slot: everyone else queues
        for n in range(5):
            thread = threading.Thread(target=waiter, args=(n,))
            thread.start()
            threads.append(thread)
            wait_until(lambda n=n: len(gate._waiting) == n + 1, timeout=5, what="queued")
    for thread in threads:
        thread.join(timeout=5)
    assert served == [0, 1, 2, 3, 4]
