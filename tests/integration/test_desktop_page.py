"""The agent desktop's page (desktop/static/) in Debian's Chromium, against the real
backend on a real stack (`callcenter up` with a `desktop:` section: the desktop process,
the ACD, Redis, the business data store, Kamailio with its WSS listener).

One browser for the module, two journeys.
1. A shift without a call: refusals at the login (wrong password, an employee already
   logged in) shown translated; log in; busy and idle with the mouse and with F8; a
   reload that restores the session and the chosen language without asking again; a
   short network loss shown and recovered; a customer found by search (Ctrl+K), a
   field error shown at its field, an edit after someone else saved first (the conflict
   is shown and compared, never overwritten); a complaint filed with a ticket to a
   unit, the ticket moved on; the placeholders of issues 13 and 18; log out.
2. A carrier call (sipp, through Kamailio and the controller) rings the page's
   softphone: the offer's details and the caller's record are on screen before it is
   answered; F2 answers, F6 holds and resumes, F4 hangs up; the wrap-up is saved for
   that call. (Media both ways is the softphone's own test_softphone_browser.py.)

Screenshots go to test-artifacts/<module>/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bizdata
from simulators import free_port, scenario_path
from testbed import (
    CALLER,
    AcdPath,
    ChromiumBrowser,
    acd_path_config,
    artifact_dir,
    build_bundle,
    carrier_call,
    chromium_path,
    running_acd_path,
    running_browser,
    wss_config,
)

AGENT = "1001"
PHONE_AGENT = "1002"  # answers in the page's softphone
NUMBER = "95598"
QUEUE = "billing"
STATIC = Path(__file__).resolve().parents[2] / "desktop" / "static"
ZH: dict[str, str] = json.loads((STATIC / "i18n" / "zh.json").read_text(encoding="utf-8"))
EN: dict[str, str] = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
TIMEOUT_MS = 20_000  # a deadline, not a wait: generous for a loaded machine
DESK_CALLER = scenario_path("desk_caller")  # answers the re-INVITEs of hold, logs them

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (scripts/install installs it)"
)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[ChromiumBrowser]:
    build_bundle()
    with running_browser(artifact_dir(request.node.nodeid)) as running:
        yield running


@pytest.fixture(scope="module")
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk]:
    """`callcenter up` with a store, Kamailio's WSS listener and a `desktop:` section: the
    desktop process runs as the stack runs it."""
    workdir = tmp_path_factory.mktemp("deskpage")
    config, passwords = acd_path_config(
        workdir,
        (AGENT, PHONE_AGENT),
        numbers=[
            {
                "number": NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "queue": QUEUE,
            }
        ],
        queues=[
            {"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 8000, "wrap_up_ms": 3000}
        ],
        skills={"billing": 2},
        controller_name="page-ctl0",
    )
    wss_config(workdir, config)
    listen = f"127.0.0.1:{free_port()}"
    config["bizdata"] = {}
    config["desktop"] = {"listen": listen, "session_idle_s": 60}
    with running_acd_path(request, workdir, config, passwords) as path:
        yield Desk(path, f"https://{listen}", passwords)


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


# The node is shown and its text contains the string.
SHOWS = (
    "([s, t]) => { const n = document.querySelector(s);"
    " return n && !n.hidden && n.textContent.includes(t); }"
)


def expect_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        SHOWS,
        arg=[selector, text],
        timeout=TIMEOUT_MS,
    )


def test_a_shift_without_a_call(
    desk: Desk, customer: dict[str, Any], browser: ChromiumBrowser
) -> None:
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

    # A short network loss: "reconnecting", then back without a login.
    page.context.set_offline(True)
    expect_text(page, "#connection", EN["conn.reconnecting"])
    page.context.set_offline(False)
    page.wait_for_selector("#connection", state="hidden")
    expect_text(page, "#state-badge", EN["state.idle"])

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
            engine,
            customer["id"],
            {"address": "华安路 2 号"},
            version=customer["version"],
            by="1002",
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
    page.wait_for_function(
        "() => document.querySelector('#customer-form [name=address]').value === '华安路 2 号'"
    )
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


def test_a_call_rings_the_page_with_the_record_shown_before_it_is_answered(
    desk: Desk, customer: dict[str, Any], browser: ChromiumBrowser, tmp_path: Path
) -> None:
    page = browser.page(desk.url)
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.wait_for_selector("#login-screen:not([hidden])")
    fill_login(page, PHONE_AGENT, desk.passwords[PHONE_AGENT], PHONE_AGENT, "12")
    page.wait_for_selector("#work-screen:not([hidden])")
    expect_text(page, "#state-badge", ZH["state.idle"])  # a new browser context: Chinese
    # The softphone registered over WSS with the session's HA1; the events socket is open.
    expect_text(page, "#reg-status", ZH["phone.reg_registered"])
    page.wait_for_function("() => document.querySelector('#connection').hidden")

    try:
        caller = carrier_call(desk.path, tmp_path, NUMBER, scenario=DESK_CALLER)
        # Ringing: the offer's details and the caller's record are on screen already.
        page.wait_for_selector("#btn-answer:not([disabled])", timeout=15_000)
        expect_text(page, "#offer-caller", CALLER)
        expect_text(page, "#offer-queue", QUEUE)
        expect_text(page, "#offer-category", ZH["category.electricity-billing"])
        expect_text(page, "#screen-pop", ZH["pop.found"].replace("{caller}", CALLER))
        expect_text(page, "#record-title", f"#{customer['id']}")
        browser.screenshot(page, "11-ringing-with-the-record")

        page.keyboard.press("F2")  # answer
        expect_text(page, "#state-badge", ZH["state.talking"])
        expect_text(page, "#call-status", ZH["phone.talking"])
        assert page.locator("#incoming").is_hidden()
        caller.run.wait_for_log("SETTLED", timeout=10)  # bridged to the page
        reinvites = len(caller.run.wait_for_log("REINVITE "))
        page.keyboard.press("F6")  # hold, then back once the caller has the hold
        expect_text(page, "#call-status", ZH["phone.held"])
        held = caller.run.wait_for_log("REINVITE ", count=reinvites + 1)[-1]
        assert "dir=sendonly" in held, held
        page.keyboard.press("F6")
        expect_text(page, "#call-status", ZH["phone.talking"])
        browser.screenshot(page, "12-talking")
        page.keyboard.press("F4")  # hang up
        caller.run.wait_for_log("BYE", timeout=10)

        # Wrap-up: the countdown runs, and the code and note are saved for this call.
        expect_text(page, "#state-badge", ZH["state.wrap_up"])
        page.wait_for_selector("#wrapup-form button[type=submit]:not([disabled])")
        page.keyboard.press("Alt+w")
        assert page.evaluate("document.activeElement.id") == "wrapup-code"
        page.select_option("#wrapup-code", "resolved")
        page.fill("#wrapup-form [name=note]", "解释了阶梯电价")
        page.click("#wrapup-form button[type=submit]")
        expect_text(page, "#wrapup-msg", ZH["wrapup.saved"])
        browser.screenshot(page, "13-wrapped-up")
        expect_text(page, "#state-badge", ZH["state.idle"])  # the queue's 3 s wrap-up is over
    finally:
        desk.path.close()
    assert errors == [], errors
