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
   unit, the ticket moved on; the voicemail tab, the recording buttons off outside a
   call, the placeholder of issue 18; log out.
2. The issue's journey: the agent logs in; a carrier call (sipp, through Kamailio,
   rtpengine and the controller) goes through an IVR flow (the caller keys in an
   account by RFC 4733) and the ACD offers it to the page: the IVR path, the account
   and its owner's record are on screen before it is answered; F2 answers; audio is
   checked both ways by content (the page's fake microphone tone decoded from the
   caller's RTP; the caller's tone measured in the page by the bundle's ToneMeter); F6
   holds and resumes; a complaint and its ticket are filed on this call; a consult of
   a second agent's desk phone (sipp over UDP) from the page's buttons, audio both
   ways, then cancelled (the caller back with the page); a blind transfer (the dialog,
   the directory) sends the caller to that desk phone, which rings, answers and hears
   the caller; the wrap-up is saved; busy, idle, log out.

Screenshots go to test-artifacts/<module>/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bizdata
from simulators import RtpEndpoint, SippRun, free_port, scenario_path
from testbed import (
    CALLER,
    PAGE_TONE_HZ,
    AcdPath,
    ChromiumBrowser,
    TonePlayer,
    acd_path_config,
    carrier_call,
    chromium_path,
    decode_ulaw,
    hang_up,
    media_of,
    registered,
    running_acd_path,
    start_phone,
    tone_fraction,
    track,
    wait_until,
    wss_config,
)

AGENT = "1001"
PHONE_AGENT = "1002"  # answers in the page's softphone
DESK_AGENT = "1003"  # a desk SIP phone (sipp), the blind transfer's target
NUMBER = "95598"
IVR_NUMBER = "95599"  # through the flow below, then the queue
ACCOUNT = "12345674"  # the demo's account (bizdata.seed_demo), passes the Luhn check
CALLER_TONE_HZ = 600  # what the caller sends; the page's microphone sends PAGE_TONE_HZ
DESK_TONE_HZ = 800  # what the desk phone sends while consulted
QUEUE = "billing"
STATIC = Path(__file__).resolve().parents[2] / "desktop" / "static"
ZH: dict[str, str] = json.loads((STATIC / "i18n" / "zh.json").read_text(encoding="utf-8"))
EN: dict[str, str] = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
TIMEOUT_MS = 20_000  # a deadline, not a wait: generous for a loaded machine
DESK_CALLER = scenario_path("desk_caller")  # answers the re-INVITEs of hold, logs them

# The IVR in front of the queue: the account (an RFC 4733 entry), its lookup, the queue.
DESK_FLOW = """\
name: desk
languages: [zh]
start: ask
prompts:
  ask: {zh: 请输入户号，以井号键结束。}
  bad: {zh: 户号有误。}
nodes:
  ask:
    type: collect
    prompt: ask
    min_digits: 8
    max_digits: 12
    terminator: "#"
    validate: luhn
    store_as: account
    first_digit_timeout_ms: 10000
    inter_digit_timeout_ms: 3000
    retries: 1
    invalid_prompt: bad
    next: find
  find:
    type: lookup
    source: accounts
    key: "{account}"
    store_as: acct
    next: desk
    on_not_found: desk
  desk:
    type: queue
    queue: billing
    skills: {billing: 1}
"""

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (scripts/install installs it)"
)


@pytest.fixture(scope="module")
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk]:
    """`callcenter up` with a store, Kamailio's WSS listener and a `desktop:` section: the
    desktop process runs as the stack runs it."""
    workdir = tmp_path_factory.mktemp("deskpage")
    flows = workdir / "ivr"
    flows.mkdir()
    (flows / "desk.yaml").write_text(DESK_FLOW, encoding="utf-8")
    config, passwords = acd_path_config(
        workdir,
        (AGENT, PHONE_AGENT, DESK_AGENT),
        numbers=[
            {
                "number": NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "queue": QUEUE,
            },
            {
                "number": IVR_NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "ivr": "desk",
            },
        ],
        queues=[
            {"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 8000, "wrap_up_ms": 3000}
        ],
        skills={"billing": 2},
        controller_name="page-ctl0",
    )
    wss_config(workdir, config)
    config["ivr"] = {"flows_dir": str(flows)}
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

    # The voicemail tab lists this agent's boxes (none here), and the recording
    # buttons are off outside a call.
    page.keyboard.press("Alt+4")
    page.wait_for_selector("#panel-voicemail:not([hidden]) #voicemail-rows tr")
    expect_text(page, "#recording-status", EN["recording.state.off"])
    assert page.locator(".recording button:disabled").count() == 5

    # Log out, confirmed: back at the login.
    page.click("#btn-logout")
    page.wait_for_selector("#dlg-confirm[open]")
    page.click("#dlg-confirm-ok")
    page.wait_for_selector("#login-screen:not([hidden])")
    expect_text(page, "#login-error", EN["logout.done"])
    browser.screenshot(page, "05-logged-out")
    assert page.request.get(f"{desk.url}/api/session").status == 401
    assert errors == [], errors


def _tone_after(endpoint: RtpEndpoint, freq_hz: float, packets: int = 50) -> float:
    """The share of `freq_hz` in the PCMU audio of the next `packets` packets `endpoint`
    receives (skipping three: what was in flight when the far end changed)."""
    start = len(endpoint.packets()) + 3
    wait_until(
        lambda: len(endpoint.packets()) >= start + packets,
        timeout=10,
        what=f"{packets} more packets at {endpoint.port}",
    )
    audio = [p for p in endpoint.packets()[start : start + packets] if p.payload_type == 0]
    return tone_fraction(decode_ulaw(b"".join(p.payload for p in audio)), freq_hz)


def _latest_media(run: SippRun, first: str) -> tuple[str, int]:
    """Where a sipp party's peer wants media now: its last re-INVITE's, else `first`'s."""
    lines = [ln for ln in run.log_lines() if ln.startswith(("REINVITE ", first))]
    return media_of(lines[-1])


# What the desktop page hears: the bundle's ToneMeter on the softphone's remote stream
# (the <audio id=remote-audio> it plays in).
PAGE_HEARS = """async ([freqHz, durationMs]) => {
  const stream = document.querySelector("#remote-audio").srcObject;
  if (!stream) return null;
  const meter = new HuaanSoftphone.ToneMeter(stream);
  try { return await meter.measure({freqHz, durationMs}); } finally { meter.close(); }
}"""


def test_a_call_through_the_ivr_answered_in_the_page_complaint_transfer_and_shift_end(
    desk: Desk, browser: ChromiumBrowser, tmp_path: Path
) -> None:
    """The issue's journey: a carrier call through the IVR rings the page with the IVR
    path, the account and its owner's record; F2 answers; audio both ways by content; a
    complaint and its ticket on this call; a consult of a desk phone, cancelled; a blind
    transfer to it, which rings, answers and hears the caller; the wrap-up; busy, idle, log out."""
    path = desk.path
    bizdata.seed_demo(desk.store)  # the account the caller enters, and its owner
    engine = desk.engine()
    try:
        owner = bizdata.find_customer_for_call(engine, account=ACCOUNT, phone=None)
    finally:
        engine.dispose()
    assert owner is not None
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
    browser.screenshot(page, "11-logged-in")

    try:
        # The second agent: a desk SIP phone (sipp over UDP), logged in at the ACD.
        desk_rtp = RtpEndpoint(record=True)
        path.on_close(desk_rtp.close)
        desk_phone = start_phone(
            path.stack,
            DESK_AGENT,
            workdir=tmp_path,
            scenario="desk_agent",
            calls=2,  # the consult, then the transfer
            rtp_port=desk_rtp.port,
        )
        track(desk_phone.run)
        path.log_in(DESK_AGENT)
        wait_until(lambda: registered(path.stack, DESK_AGENT), timeout=10, what="1003 registered")

        # The carrier call: the IVR answers, asks for the account, the caller keys it in.
        caller = carrier_call(path, tmp_path, IVR_NUMBER, scenario=DESK_CALLER, record=True)
        cid = str(path.control.wait_new_call()["cid"])
        answered = media_of(caller.run.wait_for_log("ANSWERED", timeout=15)[0])
        caller.rtp.send_dtmf(answered, f"{ACCOUNT}#")

        # Ringing: the offer's details, the IVR path, the account and its owner's record
        # are on screen before it is answered.
        page.wait_for_selector("#btn-answer:not([disabled])", timeout=20_000)
        expect_text(page, "#offer-caller", CALLER)
        expect_text(page, "#offer-queue", QUEUE)
        expect_text(page, "#offer-category", ZH["category.electricity-billing"])
        expect_text(page, "#offer-ivr", "ask › find › desk")
        expect_text(page, "#offer-account", ACCOUNT)
        expect_text(page, "#record-title", f"#{owner['id']}")
        browser.screenshot(page, "12-ringing-with-the-record")

        page.keyboard.press("F2")  # answer
        expect_text(page, "#state-badge", ZH["state.talking"])
        expect_text(page, "#call-status", ZH["phone.talking"])
        assert page.locator("#incoming").is_hidden()
        caller.run.wait_for_log("SETTLED", timeout=10)  # bridged to the page

        # Audio both ways, by content: the caller's tone in the page, the page's
        # microphone (the harness's tone) at the caller.
        player = TonePlayer(
            caller.rtp, lambda: _latest_media(caller.run, "ANSWERED"), CALLER_TONE_HZ
        )
        path.on_close(player.stop)
        heard = page.evaluate(PAGE_HEARS, [CALLER_TONE_HZ, 1500])
        assert heard is not None, "the page has no remote audio"
        assert heard["toneFraction"] >= 0.6, heard
        assert abs(heard["dominantHz"] - CALLER_TONE_HZ) < 30, heard
        assert _tone_after(caller.rtp, PAGE_TONE_HZ) >= 0.6
        browser.screenshot(page, "13-talking")

        # F6 holds (the caller is re-INVITEd sendonly) and resumes.
        reinvites = len(caller.run.wait_for_log("REINVITE "))
        page.keyboard.press("F6")
        expect_text(page, "#call-status", ZH["phone.held"])
        held = caller.run.wait_for_log("REINVITE ", count=reinvites + 1)[-1]
        assert "dir=sendonly" in held, held
        page.keyboard.press("F6")
        expect_text(page, "#call-status", ZH["phone.talking"])
        caller.run.wait_for_log("REINVITE ", count=reinvites + 2)

        # A complaint for the shown customer on this call, dispatched as a ticket.
        page.keyboard.press("Alt+2")
        page.wait_for_selector("#panel-tickets:not([hidden])")
        expect_text(page, "#complaint-call-label", cid)
        page.select_option("#complaint-category", "billing")
        page.fill("#complaint-form [name=description]", "电费比上月高出很多")
        page.select_option("#complaint-form [name=unit]", "billing")
        page.click("#complaint-form button[type=submit]")
        expect_text(page, "#complaint-msg", "#")
        page.wait_for_selector("#ticket-detail:not([hidden])")
        browser.screenshot(page, "14-complaint-and-ticket")
        engine = desk.engine()
        try:
            (complaint,) = bizdata.search_complaints(engine, call_id=cid)
            tickets = [
                t for t in bizdata.list_tickets(engine) if t["complaint_id"] == complaint["id"]
            ]
            assert len(tickets) == 1, tickets
            ticket = bizdata.get_ticket(engine, tickets[0]["id"])
        finally:
            engine.dispose()
        assert complaint["customer_id"] == owner["id"], complaint
        assert ticket["complaint"]["call_id"] == cid, ticket
        assert ticket["unit"] == "billing", ticket

        # Consult the desk phone's agent, then cancel: the page talks with it while the
        # caller waits, then the caller is back with the page.
        page.keyboard.press("Alt+1")
        page.click("#btn-consult")
        page.wait_for_selector("#dlg-transfer[open]")
        assert page.locator("#transfer-kind").is_hidden()  # a consult is to an agent
        page.wait_for_selector(f"#transfer-target option[value='{DESK_AGENT}']", state="attached")
        page.select_option("#transfer-target", DESK_AGENT)
        page.click("#transfer-ok")
        rang = desk_phone.run.wait_for_log("CALL ", timeout=15)[-1]
        assert f" caller={PHONE_AGENT} " in rang, rang  # the consulting agent calls
        path.control.wait_state(cid, "consulting")
        page.wait_for_selector("#btn-consult-cancel:not([hidden])")
        expect_text(page, "#call-status", ZH["phone.consulting"].replace("{target}", DESK_AGENT))
        consulted = TonePlayer(
            desk_rtp, lambda: _latest_media(desk_phone.run, "CALL "), DESK_TONE_HZ
        )
        path.on_close(consulted.stop)
        heard = page.evaluate(PAGE_HEARS, [DESK_TONE_HZ, 1000])
        assert heard is not None and heard["toneFraction"] >= 0.6, heard
        assert _tone_after(desk_rtp, PAGE_TONE_HZ) >= 0.6
        browser.screenshot(page, "15-consulting")
        page.click("#btn-consult-cancel")
        desk_phone.run.wait_for_log("BYE", timeout=10)
        consulted.stop()
        path.control.wait_state(cid, "bridged")
        expect_text(page, "#call-status", ZH["phone.consult_cancelled"])
        page.wait_for_selector("#btn-consult:not([disabled])")
        assert page.locator("#btn-consult-cancel").is_hidden()
        # Both hear each other again. The page hears the caller because the softphone
        # resets Chromium's unsignaled streams after the re-INVITE: the caller's SSRC
        # comes back after the desk phone's (docs/desktop.md, "Softphone").
        assert _tone_after(caller.rtp, PAGE_TONE_HZ) >= 0.6
        heard = page.evaluate(PAGE_HEARS, [CALLER_TONE_HZ, 1000])
        assert heard is not None and heard["toneFraction"] >= 0.6, heard
        # The page took the cancel's re-INVITE: it had the ACK of the consult's
        # (controller/_sippy_fixes.py, fix 7), else JsSIP refuses it with 403.
        log = path.stack.layout.log_file("controller0").read_text(errors="replace")
        assert "re-INVITE to leg L2 failed" not in log, log[-2000:]

        # Blind transfer to the desk phone's agent: the page's leg ends, the desk phone
        # rings with the call, answers, and hears the caller.
        page.click("#btn-transfer")
        page.wait_for_selector("#dlg-transfer[open]")
        page.wait_for_selector(f"#transfer-target option[value='{DESK_AGENT}']", state="attached")
        page.select_option("#transfer-target", DESK_AGENT)
        browser.screenshot(page, "16-transfer-dialog")
        page.click("#transfer-ok")
        rang = desk_phone.run.wait_for_log("CALL ", count=2, timeout=15)[-1]
        assert f" acd={cid} " in rang, rang
        path.wait_agent(DESK_AGENT, "TALKING")
        assert _tone_after(desk_rtp, CALLER_TONE_HZ) >= 0.6
        expect_text(page, "#state-badge", ZH["state.wrap_up"])
        browser.screenshot(page, "17-transferred")

        # Wrap-up for this call, then busy with a reason, idle, log out.
        page.wait_for_selector("#wrapup-form button[type=submit]:not([disabled])")
        page.keyboard.press("Alt+w")
        assert page.evaluate("document.activeElement.id") == "wrapup-code"
        page.select_option("#wrapup-code", "resolved")
        page.fill("#wrapup-form [name=note]", "已转接柜台")
        page.click("#wrapup-form button[type=submit]")
        expect_text(page, "#wrapup-msg", ZH["wrapup.saved"])
        browser.screenshot(page, "18-wrapped-up")
        engine = desk.engine()
        try:
            assert (bizdata.get_wrap_up(engine, cid, int(PHONE_AGENT)) or {}).get(
                "code"
            ) == "resolved"
        finally:
            engine.dispose()
        expect_text(page, "#state-badge", ZH["state.idle"])  # the queue's 3 s wrap-up is over
        page.select_option("#busy-reason", "meal")
        page.click("#btn-busy")
        expect_text(page, "#state-badge", ZH["state.busy"])
        browser.screenshot(page, "19-busy")
        page.keyboard.press("F8")
        expect_text(page, "#state-badge", ZH["state.idle"])
        page.click("#btn-logout")
        page.wait_for_selector("#dlg-confirm[open]")
        page.click("#dlg-confirm-ok")
        page.wait_for_selector("#login-screen:not([hidden])")
        browser.screenshot(page, "20-logged-out")
        assert path.state_of(PHONE_AGENT) == "LOGGED_OUT"

        # The caller hangs up: the desk phone gets the BYE, both end cleanly.
        hang_up(caller)
        desk_phone.run.wait_for_log("BYE", count=2, timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert desk_phone.run.wait(timeout=10) == 0, desk_phone.run.errors()
        player.stop()
        path.wait_clean()
    finally:
        path.close()
    assert errors == [], errors
