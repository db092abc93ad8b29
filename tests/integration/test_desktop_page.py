"""The agent desktop's page (desktop/static/) in Debian's Chromium, against the real
backend (`python -m desktop` over TLS) on a real stack (`callcenter up`: the ACD,
Redis, the business data store).

One browser for the module, two journeys. The first is a short shift without a call: refusals at
the login (wrong password, an employee already logged in) shown translated; log in;
busy and idle with the mouse and with F8; a reload that restores the session (and the
chosen language) without asking again; a customer found by search (Ctrl+K), edited
while someone else saved it first (the conflict is shown with a comparison, never
overwritten); a complaint filed with a ticket to a unit, the ticket moved on; log out.
The second takes a carrier call (sipp, through Kamailio and the controller) on the
agent's desk SIP phone with the page beside it: the screen pop shows the caller's
record, with the call's category and queue, before the call is answered; after the
caller hangs up, the wrap-up is saved for that call. (The softphone's own journey,
media in the page, is tests/integration/test_softphone_browser.py.)
Screenshots go to test-artifacts/<module>/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import bizdata
from acd_client import ensure_token_file
from desktop import desktop_healthy
from simulators import free_port
from testbed import (
    CALLER,
    AcdPath,
    ChromiumBrowser,
    acd_path_config,
    agent_phone,
    artifact_dir,
    carrier_call,
    hang_up,
    build_bundle,
    chromium_path,
    running_acd_path,
    running_browser,
    self_signed_cert,
    wait_until,
)

AGENT = "1001"
DESK_AGENT = "1002"
NUMBER = "95598"
QUEUE = "billing"
STATIC = Path(__file__).resolve().parents[2] / "desktop" / "static"
ZH: dict[str, str] = json.loads((STATIC / "i18n" / "zh.json").read_text(encoding="utf-8"))
EN: dict[str, str] = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (scripts/install installs it)"
)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[ChromiumBrowser]:
    build_bundle()
    with running_browser(artifact_dir(request.node.nodeid)) as running:
        yield running


@pytest.fixture(scope="module")
def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stack with a store and a `desktop:` section, and the desktop process on it."""
    workdir = tmp_path_factory.mktemp("deskpage")
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    config, passwords = acd_path_config(
        workdir,
        (AGENT, DESK_AGENT),
        numbers=[{"number": NUMBER, "category": "electricity-billing", "target": "controller", "queue": QUEUE}],
        queues=[{"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 8000, "wrap_up_ms": 3000}],
        skills={"billing": 2},
        controller_name="page-ctl0",
    )
    listen = f"127.0.0.1:{free_port()}"
    config["tls"] = {"cert": str(cert), "key": str(key)}
    config["bizdata"] = {}
    # The desktop reads the ACD's service token from acd.token_file (the run directory's
    # default token is callcenter's own business): name the file.
    config["acd"]["token_file"] = str(ensure_token_file(workdir / "acd.token"))
    # Not managed: this test runs the process itself, with its log in the artifacts.
    config["desktop"] = {"listen": listen, "managed": False, "session_idle_s": 60}
    with running_acd_path(request, workdir, config, passwords) as path:
        config_file = workdir / "callcenter.yaml"
        assert yaml.safe_load(config_file.read_text())["desktop"]["listen"] == listen
        log_path = artifact_dir(request.node.nodeid) / "desktop.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "desktop", "--config", str(config_file), "--run-dir", str(path.stack.layout.root)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(
                    lambda: process.poll() is not None or desktop_healthy(listen),
                    timeout=20,
                    what="the desktop answers /healthz",
                )
                assert process.poll() is None, log_path.read_text()
                yield Desk(path, f"https://{listen}", passwords)
            finally:
                process.terminate()
                process.wait(timeout=10)


class Desk:
    def __init__(self, path: AcdPath, url: str, passwords: dict[str, str]) -> None:
        self.path = path
        self.url = url
        self.passwords = passwords
        self.store = bizdata.store_url(path.stack.config.bizdata, path.stack.layout.root)

    def engine(self) -> Any:
        return bizdata.open_engine(self.store)


@pytest.fixture(scope="module")
def customer(desk: Desk) -> dict[str, Any]:
    """The caller's record: the carrier calls from CALLER, the screen pop's key."""
    engine = desk.engine()
    try:
        record: dict[str, Any] = bizdata.create_customer(
            engine, {"name": "王小明", "phone": CALLER, "address": "华安路 1 号"}, by="seed"
        )
        return record
    finally:
        engine.dispose()


def fill_login(page: Any, username: str, password: str, employee_id: str, seat: str) -> None:
    page.fill("#login-form [name=username]", username)
    page.fill("#login-form [name=password]", password)
    page.fill("#login-form [name=seat]", seat)
    page.fill("#login-form [name=employee_id]", employee_id)
    page.click("#login-submit")


def expect_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => { const n = document.querySelector(s); return n && !n.hidden && n.textContent.includes(t); }",
        arg=[selector, text],
        timeout=TIMEOUT_MS,
    )


def test_a_shift_without_a_call(desk: Desk, customer: dict[str, Any], browser: ChromiumBrowser) -> None:
    page = browser.page(desk.url)
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    # Refusals are expected (401, 409, 422: the browser logs each); script errors are not.
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The login, in Chinese (the demo's default); a wrong password is refused, translated.
    page.wait_for_selector("#login-screen:not([hidden])")
    assert page.title() == ZH["app.title"]
    fill_login(page, AGENT, "not-the-password", AGENT, "11")
    expect_text(page, "#login-error", ZH["error.bad_credentials"])
    browser.screenshot(page, "01-login-refused")

    fill_login(page, AGENT, desk.passwords[AGENT], AGENT, "11")
    page.wait_for_selector("#work-screen:not([hidden])")
    expect_text(page, "#state-badge", ZH["state.idle"])

    # The same employee from another browser is refused with its reason.
    other = browser.page(desk.url)
    other.wait_for_selector("#login-screen:not([hidden])")
    fill_login(other, AGENT, desk.passwords[AGENT], AGENT, "12")
    expect_text(other, "#login-error", ZH["error.already_logged_in"])
    browser.screenshot(other, "02-duplicate-employee")
    other.context.close()

    # Busy with a reason, then idle with F8.
    page.select_option("#busy-reason", "meal")
    page.click("#btn-busy")
    expect_text(page, "#state-badge", ZH["state.busy"])
    expect_text(page, "#state-detail", ZH["reason.meal"])
    page.keyboard.press("F8")
    expect_text(page, "#state-badge", ZH["state.idle"])

    # English, remembered across a reload that restores the session without a login.
    page.click("#work-screen [data-action=toggle-lang]")
    expect_text(page, "#state-badge", EN["state.idle"])
    page.reload()
    page.wait_for_selector("#work-screen:not([hidden])")
    expect_text(page, "#state-badge", EN["state.idle"])
    assert page.title() == EN["app.title"]

    # Search from the keyboard, open the record.
    page.keyboard.press("Control+k")
    assert page.evaluate("document.activeElement.id") == "customer-search"
    page.keyboard.type("王小")
    page.wait_for_selector("#customer-results button.result")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#customer-record:not([hidden])")
    assert page.input_value("#customer-form [name=phone]") == CALLER

    # A field error from the store is shown next to its field.
    page.fill("#customer-form [name=email]", "not-an-email")
    page.click("#customer-form button[type=submit]")
    page.wait_for_selector("#customer-form-email-error")
    assert page.get_attribute("#customer-form [name=email]", "aria-invalid") == "true"

    # Someone else saves first: the page shows the conflict and compares, never overwrites.
    engine = desk.engine()
    try:
        bizdata.update_customer(
            engine, customer["id"], {"address": "华安路 2 号"}, version=customer["version"], by="1002"
        )
    finally:
        engine.dispose()
    page.fill("#customer-form [name=email]", "wang@example.cn")
    page.fill("#customer-form [name=address]", "华安路 3 号")
    page.click("#customer-form button[type=submit]")
    page.wait_for_selector("#record-conflict:not([hidden])")
    expect_text(page, "#record-conflict", EN["customer.conflict"])
    page.click("#btn-conflict-compare")
    page.wait_for_selector("#dlg-compare[open]")
    differs = page.locator("#compare-rows tr.differs").all_inner_texts()
    assert any("华安路 3 号" in row and "华安路 2 号" in row for row in differs), differs
    browser.screenshot(page, "03-version-conflict")
    page.click("#dlg-compare button[value=theirs]")
    assert page.input_value("#customer-form [name=address]") == "华安路 2 号"
    page.fill("#customer-form [name=email]", "wang@example.cn")
    page.click("#customer-form button[type=submit]")
    expect_text(page, "#customer-msg", EN["customer.saved"])
    expect_text(page, "#record-version", "3")

    # A complaint for this customer, dispatched to a unit, and the ticket moved on.
    page.keyboard.press("Alt+2")
    page.wait_for_selector("#panel-tickets:not([hidden])")
    page.select_option("#complaint-category", "billing")
    page.fill("#complaint-form [name=description]", "电费比上月高出很多")
    page.select_option("#complaint-form [name=unit]", "billing")
    page.click("#complaint-form button[type=submit]")
    expect_text(page, "#complaint-msg", "#")
    page.wait_for_selector("#ticket-detail:not([hidden]) button[data-to=in_progress]")
    page.fill("#ticket-detail textarea", "已联系抄表班")
    page.click("#ticket-detail button[data-to=in_progress]")
    expect_text(page, "#ticket-detail h3", EN["ticket.state.in_progress"])
    assert page.locator("#ticket-detail tbody tr").count() == 2
    page.wait_for_selector("#complaint-list li.complaint")
    page.wait_for_selector("#ticket-rows tr button")
    browser.screenshot(page, "04-complaint-and-ticket")

    # Placeholders say what brings them, and the recording buttons are off.
    page.keyboard.press("Alt+4")
    expect_text(page, "#panel-voicemail", EN["later.voicemail"])
    assert page.locator(".later button:disabled").count() == 3

    # Log out, confirmed: back at the login.
    page.click("#btn-logout")
    page.wait_for_selector("#dlg-confirm[open]")
    page.click("#dlg-confirm-ok")
    page.wait_for_selector("#login-screen:not([hidden])")
    expect_text(page, "#login-error", EN["logout.done"])
    browser.screenshot(page, "05-logged-out")
    assert page.request.get(f"{desk.url}/api/session").status == 401
    assert errors == [], errors


def test_a_call_on_the_desk_phone_pops_the_record_before_it_is_answered(
    desk: Desk, customer: dict[str, Any], browser: ChromiumBrowser, tmp_path: Path
) -> None:
    page = browser.page(desk.url)
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.wait_for_selector("#login-screen:not([hidden])")
    fill_login(page, DESK_AGENT, desk.passwords[DESK_AGENT], DESK_AGENT, "12")
    page.wait_for_selector("#work-screen:not([hidden])")
    lang = EN if page.title() == EN["app.title"] else ZH  # the language the first journey left
    expect_text(page, "#state-badge", lang["state.idle"])
    # The events socket is open before the call (the page is ready for an offer).
    page.wait_for_function("() => document.querySelector('#connection').hidden")

    phone = agent_phone(desk.path, tmp_path, DESK_AGENT, "ctl_via_edge_agent")
    try:
        caller = carrier_call(desk.path, tmp_path, NUMBER)
        # The offer reaches the page before the phone rings: the record is on screen.
        page.wait_for_selector("#incoming:not([hidden])")
        expect_text(page, "#offer-caller", CALLER)
        expect_text(page, "#offer-queue", QUEUE)
        expect_text(page, "#offer-category", lang["category.electricity-billing"])
        expect_text(page, "#screen-pop", lang["pop.found"].replace("{caller}", CALLER))
        expect_text(page, "#record-title", f"#{customer['id']}")
        browser.screenshot(page, "11-screen-pop")
        phone.run.wait_for_log("CALL ", timeout=10)
        expect_text(page, "#state-badge", lang["state.talking"])
        assert not page.is_disabled("#btn-transfer"), "an ACD call on the desk phone can be transferred"
        browser.screenshot(page, "12-talking-on-desk-phone")
        hang_up(caller)
        # The call is over: the page offers its wrap-up, and saves it for that call.
        page.wait_for_selector("#wrapup-form button[type=submit]:not([disabled])")
        page.keyboard.press("Alt+w")
        assert page.evaluate("document.activeElement.id") == "wrapup-code"
        page.select_option("#wrapup-code", "resolved")
        page.fill("#wrapup-form [name=note]", "解释了阶梯电价")
        page.click("#wrapup-form button[type=submit]")
        expect_text(page, "#wrapup-msg", lang["wrapup.saved"])
        browser.screenshot(page, "13-wrapped-up")
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    finally:
        desk.path.close()
    assert errors == [], errors
