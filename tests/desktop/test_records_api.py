"""Customer records, complaints and tickets through the desktop's API, on the SQLite
store: validation, version conflicts, ticket transitions, unit queues."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.desktop.conftest import Browser, DeskStack


@pytest.fixture(scope="module")
def agent(desktop_server: DeskStack) -> Iterator[Browser]:
    page = desktop_server.logged_in("a1005", 1005, 5)
    yield page
    page.post("/api/logout")


def test_customer_create_edit_delete_with_version_checks(agent: Browser) -> None:
    created = agent.post("/api/customers", {"name": "王芳", "phone": "13911112222", "id": 99})
    assert created.status == 201, created.body
    customer = created.body
    assert customer["version"] == 1 and customer["id"] != 99
    cid = customer["id"]
    assert agent.get(f"/api/customers/{cid}").body["name"] == "王芳"
    found = agent.get("/api/customers?q=1391111").body["customers"]
    assert [c["id"] for c in found] == [cid]
    edited = agent.request("PUT", f"/api/customers/{cid}", {**customer, "email": "wf@example.cn"})
    assert edited.status == 200 and edited.body["version"] == 2
    stale = agent.request("PUT", f"/api/customers/{cid}", {**customer, "notes": "late edit"})
    assert (stale.status, stale.code) == (409, "version_conflict")
    assert stale.body["error"]["current"]["email"] == "wf@example.cn"
    gone = agent.request("DELETE", f"/api/customers/{cid}?version=1")
    assert (gone.status, gone.code) == (409, "version_conflict")
    assert agent.request("DELETE", f"/api/customers/{cid}?version=2").status == 204
    assert agent.get(f"/api/customers/{cid}").code == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "phone": "abc"}, "phone"),
        ({"phone": "13911112222"}, "name"),
        ({"name": "x", "phone": "13911112222", "email": "not-mail"}, "email"),
        ({"name": "x", "phone": "13911112222", "shoe_size": 42}, None),
    ],
)
def test_invalid_customer_fields_are_named(
    agent: Browser, body: dict[str, object], field: str | None
) -> None:
    reply = agent.post("/api/customers", body)
    assert (reply.status, reply.code) == (422, "invalid"), reply.body
    if field is not None:
        assert reply.body["error"]["field"] == field


def test_search_needs_two_characters_and_unknown_ids_are_404(agent: Browser) -> None:
    assert agent.get("/api/customers?q=1").code == "invalid"
    assert agent.get("/api/customers/999999").status == 404
    assert agent.get("/api/customers/abc").status == 404


# bizdata's list_tickets calls Result.tuples(), deprecated in SQLAlchemy 2.1 (reported to
# its author; drop this mark once bizdata unpacks rows directly).
@pytest.mark.filterwarnings("ignore:The Result.tuples:DeprecationWarning")
def test_complaint_ticket_life_cycle(agent: Browser) -> None:
    customer = agent.post("/api/customers", {"name": "李雷", "phone": "13822223333"}).body
    complaint = agent.post(
        "/api/complaints",
        {
            "customer_id": customer["id"],
            "call_id": "call-77",
            "category": "billing",
            "description": "电费账单金额异常",
        },
    )
    assert complaint.status == 201, complaint.body
    assert complaint.body["recording_ref"] == "call-77"
    listed = agent.get(f"/api/complaints?customer_id={customer['id']}").body["complaints"]
    assert [c["id"] for c in listed] == [complaint.body["id"]]
    assert agent.get(f"/api/complaints?q={quote('账单')}").body["complaints"]
    bad_unit = agent.post("/api/tickets", {"complaint_id": complaint.body["id"], "unit": "moon"})
    assert (bad_unit.status, bad_unit.body["error"]["field"]) == (422, "unit")
    ticket = agent.post("/api/tickets", {"complaint_id": complaint.body["id"], "unit": "repair"})
    assert ticket.status == 201 and ticket.body["status"] == "assigned"
    tid, version = ticket.body["id"], ticket.body["version"]
    queue = agent.get("/api/tickets?unit=repair&status=assigned").body["tickets"]
    assert tid in [t["id"] for t in queue]
    assert tid not in [t["id"] for t in agent.get("/api/tickets?overdue=1").body["tickets"]]
    skip = agent.post(f"/api/tickets/{tid}/transition", {"to": "closed", "version": version})
    assert (skip.status, skip.code) == (409, "invalid_transition")
    moved = agent.post(
        f"/api/tickets/{tid}/transition", {"to": "in_progress", "version": version, "note": "on it"}
    )
    assert moved.status == 200 and moved.body["status"] == "in_progress"
    stale = agent.post(f"/api/tickets/{tid}/transition", {"to": "resolved", "version": version})
    assert (stale.status, stale.code) == (409, "version_conflict")
    full = agent.get(f"/api/tickets/{tid}").body
    assert [(h["from"], h["to"], h["by"]) for h in full["history"]] == [
        (None, "assigned", "a1005"),
        ("assigned", "in_progress", "a1005"),
    ]
    assert agent.get("/api/tickets?status=nope").code == "invalid"
    held = agent.request("DELETE", f"/api/customers/{customer['id']}?version={customer['version']}")
    assert (held.status, held.code) == (409, "in_use")
