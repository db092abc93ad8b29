"""The `recording:` and `voicemail:` sections of the config (docs/recording.md).

Recording is made by rtpengine's pcap method into a spool directory beside each
rtpengine; the recorder service (`python -m recorder`) turns each finished recording
into a stereo WAV (caller left, agent right) in `recording.dir`, indexes it in the
business store, and deletes what is past `retention_days` unless it is on legal hold.
Voicemail messages are recordings of the caller alone, kept per mailbox.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from ._fields import HostPort, StrictModel
from ._ivr_config import BoxName

__all__ = [
    "MailboxSpec",
    "RecordingSection",
    "VoicemailSection",
]


class RecordingSection(StrictModel):
    """Where recordings are made and kept, and for how long."""

    # rtpengine's --recording-dir (pcaps/, metadata/, tmp/ under it). Node-local: each
    # rtpengine has its own, and the recorder beside it reads it (docs/recording.md,
    # "Several rtpengines"). Relative paths are relative to the run directory.
    spool_dir: str = "recordings/spool"
    # Where the WAV files go (YYYY/MM/DD/<ref>.wav). Shared by all recorders in a cluster.
    dir: str = "recordings/wav"
    # Files and index rows older than this are deleted, unless on legal hold. 0: kept forever.
    retention_days: int = Field(90, ge=0, le=36_500)
    # A stopped recording whose pcap segments are not all in the spool this long after
    # its stop is reported missing (recording.failed, reason missing).
    missing_after_ms: int = Field(30_000, ge=1_000, le=3_600_000)
    # Below this much free space on the spool or the WAV filesystem, recording fails loudly
    # (recording.failed, reason disk_full) instead of writing files that cannot be finished.
    min_free_mb: int = Field(64, ge=0)
    # The recorder's HTTP face: /metrics (Prometheus text) and /healthz. The dashboards
    # play WAVs from `dir` themselves, after their role check.
    listen: HostPort = "127.0.0.1:8790"
    # managed: `callcenter up` starts the recorder (and rtpengine with --recording-dir).
    managed: bool = True
    # Always-on recording is set where a number or queue is defined: numbers[].record,
    # queues[].record.


Username = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]


class MailboxSpec(StrictModel):
    """One mailbox: a queue's or an agent's. The greeting is spoken (TTS, `greeting_zh` /
    `greeting_en`) or a recorded WAV (`greeting_file`, 8 kHz mono, relative to the config
    file); with none, a default greeting in the box's language is spoken."""

    # Whose box it is: exactly one of queue and agent.
    queue: str | None = None
    agent: Username | None = None
    language: str = Field("zh", pattern=r"^(zh|en)$")
    greeting_zh: str | None = Field(None, max_length=500)
    greeting_en: str | None = Field(None, max_length=500)
    greeting_file: str | None = None
    # A full box says so to the caller and takes no message.
    max_messages: int = Field(100, ge=1, le=100_000)
    max_message_s: int = Field(120, ge=5, le=3_600)
    # Who gets message-waiting indication (a SIP NOTIFY to the phone): an agent box's
    # agent always; for a queue box, the accounts named here.
    notify: list[Username] = []

    @model_validator(mode="after")
    def _owner(self) -> MailboxSpec:
        if (self.queue is None) == (self.agent is None):
            raise ValueError("a mailbox belongs to exactly one of queue: NAME or agent: USERNAME")
        if self.greeting_file is not None and (self.greeting_zh or self.greeting_en):
            raise ValueError("give a greeting_file or greeting texts (greeting_zh/en), not both")
        return self


class VoicemailSection(StrictModel):
    """Mailboxes by name (the name IVR voicemail nodes, `closed: {voicemail: BOX}` and
    queues' `voicemail_box` use). Every agent account also has a box named
    `agent.<username>` with the defaults, unless one is configured here."""

    boxes: dict[BoxName, MailboxSpec] = {}
    # Where messages' WAV files go (<box>/<message id>.wav).
    dir: str = "voicemail"
    # The key a waiting caller presses to leave a message instead (queues with a
    # voicemail_box); "" turns it off.
    escape_key: str = Field("9", pattern=r"^[0-9*#]?$")
