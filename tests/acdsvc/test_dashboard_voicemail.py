"""The Supervisor page's voicemail source, `dashboards.queries.GrpcAcdCommands`, against a
real ACD replica: a supervisor's own credentials list every box, play, mark heard and
delete; an agent's are refused with the ACD's code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import acdsvc
from dashboards.queries import GrpcAcdCommands, Supervisor
from tests.acdsvc.conftest import password_of
from tests.acdsvc.test_recording_rpcs import MESSAGES, voicemail_config

__all__ = ["voicemail_config"]  # the fixture, used by name


def test_supervisor_voicemail_through_the_acd(
    make_replica: Callable[..., acdsvc.Replica], voicemail_config: Path
) -> None:
    commands = GrpcAcdCommands(make_replica(voicemail_config).address)
    sup = Supervisor("sup", password_of("sup"), ("agent", "supervisor"))
    listed = commands.list_voicemail(sup)
    assert listed.ok, listed.message
    assert {m["message_id"] for m in listed.data} == set(MESSAGES)
    billing = next(m for m in listed.data if m["box"] == "billing-box")
    assert billing["heard"] is False and billing["received_at"].startswith("2026-12-07T09:0")
    one_box = commands.list_voicemail(sup, "vip-box")
    assert [m["box"] for m in one_box.data] == ["vip-box"]
    mid = billing["message_id"]
    audio = commands.voicemail_audio(sup, mid)
    run = voicemail_config.parent / "run"
    assert audio.ok and audio.data == (run / "voicemail" / f"billing-box/{mid}.wav").read_bytes()
    assert commands.mark_voicemail_heard(sup, mid).ok
    assert mid not in {m["message_id"] for m in commands.list_voicemail(sup).data}
    assert mid in {m["message_id"] for m in commands.list_voicemail(sup, "", True).data}
    assert commands.delete_voicemail(sup, mid).ok
    gone = commands.voicemail_audio(sup, mid)
    assert not gone.ok and gone.message.startswith("ERROR_CODE_UNKNOWN_MESSAGE")
    agent = Supervisor("a1002", password_of("a1002"), ("agent",))
    refused = commands.list_voicemail(agent)
    assert not refused.ok and refused.message.startswith("ERROR_CODE_PERMISSION_DENIED")
    wrong = commands.list_voicemail(Supervisor("sup", "wrong", ("supervisor",)))
    assert not wrong.ok and wrong.message.startswith("ERROR_CODE_PERMISSION_DENIED")
