"""What a caller hears, checked as audio: prompts rendered by `prompts`, played by rtpengine
to a caller the controller answered and parked, recorded at the caller's RTP endpoint and
found in it by cross-correlation (testbed's audio analysis).

Also the calibration of `PRESENT_SCORE` on the real path: the prompt played scores
above 0.99, prompts not played stay far below the threshold.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from prompts import render, say, wav_duration_ms
from simulators import RtpEndpoint, SippRun, start_sipp
from testbed import (
    PRESENT_SCORE,
    Controller,
    find_prompt,
    load_wav,
    played_duration_s,
    received_pcm,
    track,
    wait_until,
)

CID_HEADER = "X-CC-Correlation-ID"


def answered_caller(controller: Controller, workdir: Path, rtp: RtpEndpoint) -> tuple[str, SippRun]:
    """A sipp caller the controller has answered (and parked on rtpengine)."""
    cid = secrets.token_hex(16)
    caller = start_sipp(
        "caller",
        "ctl_caller",
        controller.sip,
        workdir=workdir,
        keys={"rtp_port": rtp.port, "cidhdr": CID_HEADER, "cid": cid},
        service="95598",
        timeout_s=30,
    )
    track(caller)
    controller.wait_new_call()
    controller.cmd("answer", cid=cid)
    caller.wait_for_log("ANSWERED")
    return cid, caller


def hang_up(controller: Controller, cid: str, caller: SippRun) -> None:
    controller.cmd("hangup", cid=cid)
    caller.wait_for_log("BYE")
    assert caller.wait(timeout=10) == 0, caller.errors()


def test_the_caller_hears_the_prompt_played_and_not_another(
    controller: Controller, workdir: Path
) -> None:
    cache = workdir / "prompts"
    played = render("您的余额是" + say("123.45", "amount", "zh"), "zh", cache)
    # Same opening words, another amount: only the audio of the amount tells them apart.
    other_amount = render("您的余额是" + say("678.90", "amount", "zh"), "zh", cache)
    other = render("Please enter your account number.", "en", cache)
    prompt = load_wav(played)
    rtp = RtpEndpoint(record=True)
    try:
        cid, caller = answered_caller(controller, workdir, rtp)
        controller.cmd("play", cid=cid, file=str(played.resolve()))
        wait_until(
            lambda: played_duration_s(received_pcm(rtp), prompt) == len(prompt) / 8000,
            timeout=wav_duration_ms(played) / 1000 + 5,
            what="the whole prompt reaches the caller",
            interval=0.2,
        )
        hang_up(controller, cid, caller)
    finally:
        rtp.close()
    heard = received_pcm(rtp)
    offset, score = find_prompt(heard, prompt)
    assert score > 0.99, score
    assert offset < 1.0  # played at once, not after some other audio
    for absent in (other_amount, other):
        assert find_prompt(heard, load_wav(absent))[1] < PRESENT_SCORE - 0.3


def test_stopping_a_prompt_part_way_cuts_what_the_caller_hears(
    controller: Controller, workdir: Path
) -> None:
    """Barge-in as the IVR does it: stop_media while the prompt plays. A second prompt
    played right after marks when the first would have gone on, so nothing waits out
    a time: the first must end early, the second be there whole."""
    cache = workdir / "prompts"
    long_prompt = render(
        "Welcome to the electricity service hotline. For your balance, press 1."
        " For an agent, press 0.",
        "en",
        cache,
    )
    after = render("请稍候", "zh", cache)
    interrupted, then = load_wav(long_prompt), load_wav(after)
    rtp = RtpEndpoint(record=True)
    try:
        cid, caller = answered_caller(controller, workdir, rtp)
        controller.cmd("play", cid=cid, file=str(long_prompt.resolve()))
        wait_until(
            lambda: played_duration_s(received_pcm(rtp), interrupted) >= 1.0,
            timeout=5,
            what="a second of the prompt reaches the caller",
            interval=0.1,
        )
        controller.cmd("stop_media", cid=cid)
        controller.cmd("play", cid=cid, file=str(after.resolve()))
        wait_until(
            lambda: played_duration_s(received_pcm(rtp), then) == len(then) / 8000,
            timeout=5,
            what="the next prompt reaches the caller",
            interval=0.1,
        )
        hang_up(controller, cid, caller)
    finally:
        rtp.close()
    heard = received_pcm(rtp)
    whole_s = len(interrupted) / 8000
    played_s = played_duration_s(heard, interrupted)
    assert 1.0 <= played_s < min(2.5, whole_s - 2.0), (played_s, whole_s)
    assert find_prompt(heard, interrupted)[1] < PRESENT_SCORE  # not there as a whole
    assert find_prompt(heard, then)[1] > 0.99
