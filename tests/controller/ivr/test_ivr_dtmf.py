"""An IVR driven by the caller's keypad, every process real (conftest.py): digits
reach the flow in all three forms (RFC 4733 events and in-band tones detected by
rtpengine, SIP INFO), a digit cuts the prompt that plays (barge-in, measured in what
the caller heard), and an account number keyed in at a sensitive node is looked up in
the business data store and its balance spoken, with the digits in no log, no event
and no state written to Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import bizdata
import prompts
from simulators import RtpEndpoint
from testbed import Rtpengine, media_of, played_duration_s, prompt_present, wait_until
from tests.controller.test_dtmf import assert_no_digits_in

from .conftest import NUMBER, IvrRig, ivr_controller, new_cid

pytestmark = pytest.mark.integration

ACCOUNT = "12345674"  # bizdata.WELL_KNOWN: 张伟's account
PACING_S = 0.005  # RTP paced at a quarter of real time (rtpengine goes by timestamps)
MENU = "欢迎致电华安电力。普通话服务请按1。For English, press 2. 服务时间是工作日八点半到五点半。"
FLOW = f"""\
name: account
languages: [zh, en]
start: language
prompts:
  choose:
    all_languages: true
    zh: "{MENU}"
    en: Thank you.
  enter:
    zh: 请输入户号，以井号键结束。
    en: Please enter your account number, then the hash key.
  balance:
    zh: "您的余额是{{acct.balance:amount}}。"
    en: "Your balance is {{acct.balance:amount}}."
  goodbye: {{zh: 再见。, en: Goodbye.}}
nodes:
  language:
    type: menu
    prompt: choose
    choices: {{1: mandarin, 2: english}}
    timeout_ms: 3000
    retries: 0
    on_failure: mandarin
  mandarin: {{type: set, language: zh, next: ask}}
  english: {{type: set, language: en, next: ask}}
  ask:
    type: collect
    prompt: enter
    min_digits: 8
    max_digits: 12
    terminator: "#"
    first_digit_timeout_ms: 5000
    inter_digit_timeout_ms: 3000
    validate: luhn
    sensitive: true
    store_as: account
    retries: 0
    on_failure: goodbye
    next: find
  find:
    type: lookup
    source: accounts
    key: "{{account}}"
    store_as: acct
    next: say
    on_not_found: goodbye
    on_error: goodbye
  say:
    type: say
    prompt: balance
    next: goodbye
  goodbye:
    type: hangup
    prompt: goodbye
"""


@pytest.fixture
def account_rig(
    workdir: Path, engine: Rtpengine, events_redis: redis.Redis, prompt_cache: Path
) -> Iterator[IvrRig]:
    run_dir = workdir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    bizdata.seed_demo(bizdata.store_url(None, run_dir))
    with ivr_controller(
        workdir,
        engine,
        events_redis,
        prompt_cache,
        flows={"account": FLOW},
        flow_for=f"{NUMBER}=account",
        settings={"bizdata": {}},
    ) as rig:
        wait_until(
            lambda: rig.controller.cmd("dtmf")["rtpengine"]["connected"],
            timeout=5,
            what="the controller connected to rtpengine's DTMF events",
        )
        yield rig


def _media(caller_log: list[str]) -> tuple[str, int]:
    return media_of(next(line for line in caller_log if line.startswith("ANSWERED")))


def test_barge_in_an_account_by_rfc4733_and_the_balance_spoken(account_rig: IvrRig) -> None:
    rig = account_rig
    cid = new_cid()
    rtp = RtpEndpoint(record=True)
    try:
        caller = rig.caller(cid, rtp)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        media = _media(caller.run.log_lines())
        rig.wait_event(cid, "call.ivr_step")
        menu = rig.prompt(MENU)  # only the Mandarin part plays first: its own WAV
        # A second of the menu, then "2": the prompt stops, English from here on.
        wait_until(lambda: len(rtp.packets()) >= 50, timeout=10, what="a second of the menu")
        rtp.send_dtmf(media, "2", interval_s=PACING_S)
        wait_until(lambda: len(rig.of(cid, "call.ivr_step")) >= 3, timeout=10, what="english, ask")
        steps = rig.of(cid, "call.ivr_step")
        assert steps[1:3] == [
            {"ivr_node": "english", "input": "2"},
            {"ivr_node": "ask", "input": ""},
        ]
        rtp.send_dtmf(media, f"{ACCOUNT}#", interval_s=PACING_S)
        done = rig.wait_event(cid, "call.ivr_done", timeout=30)
        assert done == {"ivr_node": "goodbye", "result": "self_served"}
        caller.run.wait_for_log("BYE", timeout=15)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()

        nodes = [s["ivr_node"] for s in rig.of(cid, "call.ivr_step")]
        assert nodes == ["language", "english", "ask", "find", "say", "goodbye"]
        inputs = {s["ivr_node"]: s["input"] for s in rig.of(cid, "call.ivr_step")}
        assert inputs["find"] == "<sensitive>"

        heard = rig.heard(rtp)
        full = len(menu) / 8000
        cut = played_duration_s(heard, menu)
        assert 0.5 < cut < full - 1.0, f"the menu ({full:.1f} s) was heard for {cut:.1f} s"
        amount = prompts.say(bizdata.WELL_KNOWN[0].balance, "amount", "en")
        assert prompt_present(heard, rig.prompt(f"Your balance is {amount}.", "en"))
        assert prompt_present(heard, rig.prompt("Goodbye.", "en"))

        # The account number is nowhere: no log line, no event, no state in Redis.
        log = rig.controller.log_text()
        assert ACCOUNT not in log
        assert_no_digits_in(log, "the controller's log")
        assert not any(ACCOUNT in str(dict(e.data)) for e in rig.events(cid))
        assert rig.state_keys() == []
    finally:
        rtp.close()


@pytest.mark.parametrize("form", ["inband", "info"])
def test_the_menu_takes_tones_and_sip_info_too(account_rig: IvrRig, form: str) -> None:
    rig = account_rig
    cid = new_cid()
    rtp = RtpEndpoint()
    try:
        if form == "info":
            digits = {"d1": "2", "d2": "4", "d3": "5", "d4": "6"}
            caller = rig.caller(cid, rtp, scenario="ctl_caller_info", keys=digits, pause_ms=200)
        else:
            caller = rig.caller(cid, rtp, scenario="ctl_caller_tones")
            caller.run.wait_for_log("ANSWERED", timeout=10)
            media = _media(caller.run.log_lines())
            rig.wait_event(cid, "call.ivr_step")
            rtp.send_dtmf(media, "2", inband=True, interval_s=PACING_S)
        wait_until(
            lambda: len(rig.of(cid, "call.ivr_step")) >= 2, timeout=15, what="the menu's choice"
        )
        assert rig.of(cid, "call.ivr_step")[1] == {"ivr_node": "english", "input": "2"}
        if form == "info":
            # The scenario's INFOs run on after the menu's choice; a BYE before its last
            # one is a BYE it does not expect.
            caller.run.wait_for_log("INFO empty 200", timeout=15)
        rig.controller.try_cmd("hangup", cid=cid)  # unless the flow hung up already
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert_no_digits_in(rig.controller.log_text(), "the controller's log")
    finally:
        rtp.close()
