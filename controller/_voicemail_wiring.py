"""The voicemail host with its real parts (`--voicemail-settings`): the mailboxes, queues'
boxes and escape key from the run directory's runtime.json, the message count from the
business store (`bizdata.count_voicemail`), rtpengine's recording, the prompt renderer
and a worker pool. `_app.py` builds it and attaches it to the IVR host, the ACD driver
and the digits."""

from __future__ import annotations

import argparse
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller._ivr_prompts import PromptsRenderer
from controller._sippy_loop import logged_jobs, sippy_later
from controller._voicemail import (
    CallRecording,
    CountMessages,
    Mailbox,
    VoicemailHost,
    VoicemailRecording,
    VoicemailSettings,
    beep_wav,
)

if TYPE_CHECKING:
    from controller._acd_driver import AcdDriver
    from controller._dtmf import DtmfDigits
    from controller._ivr_host import IvrHost
    from controller._ports import EventPublisher, Execute

__all__ = [
    "VoicemailOptions",
    "VoicemailRuntime",
    "add_voicemail_arguments",
    "read_voicemail_settings",
    "sippy_voicemail",
    "voicemail_options",
]

log = logging.getLogger("controller.voicemail")

WORKERS = 2  # rendering and the store's count


@dataclass(frozen=True)
class VoicemailOptions:
    settings: VoicemailSettings
    prompt_cache: Path  # absolute: rtpengine opens the files by this path
    store_url: str | None = None  # None: no store, boxes are never full
    password_env: str | None = None
    deadline_ms: int = 2000


def read_voicemail_settings(path: Path) -> tuple[VoicemailSettings, str | None, str | None]:
    """The voicemail part of a runtime.json (`callcenter up` wrote and validated it):
    the settings, and the business store's URL and password variable (None: no store)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a config (a JSON object)")
    from configuration import BizdataSection, VoicemailSection  # noqa: PLC0415 - pydantic

    try:
        section = VoicemailSection.model_validate(data.get("voicemail") or {})
        store = data.get("bizdata")
        bizdata_section = None if store is None else BizdataSection.model_validate(store)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    boxes = {
        name: Mailbox(
            name,
            spec.language,
            spec.greeting_zh,
            spec.greeting_en,
            spec.greeting_file,
            spec.max_messages,
            float(spec.max_message_s),
        )
        for name, spec in section.boxes.items()
    }
    agents = frozenset(
        str(a.get("username"))
        for a in data.get("accounts") or []
        if isinstance(a, dict) and "agent" in (a.get("roles") or ["agent"])
    )
    queue_boxes = {
        str(q["name"]): str(q["voicemail_box"])
        for q in data.get("queues") or []
        if isinstance(q, dict) and q.get("voicemail_box")
    }
    settings = VoicemailSettings(boxes, agents, queue_boxes, section.escape_key)
    if bizdata_section is None:
        return settings, None, None
    import bizdata  # noqa: PLC0415 - SQLAlchemy only with a store

    url = bizdata.store_url(bizdata_section, path.parent)
    return settings, url, bizdata_section.password_env


def add_voicemail_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "voicemail", "mailboxes callers leave messages in (docs/call-control.md, 'Voicemail')"
    )
    group.add_argument(
        "--voicemail-settings",
        default=None,
        metavar="RUNTIME_JSON",
        help="the run directory's runtime.json: voicemail boxes, queues' boxes, the escape "
        "key, the business store (bizdata) that counts messages",
    )
    group.add_argument(
        "--voicemail-prompt-cache",
        default=None,
        metavar="DIR",
        help="where the greetings are rendered (rtpengine reads them at the same path)",
    )


def voicemail_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> VoicemailOptions | None:
    if args.voicemail_settings is None:
        if args.voicemail_prompt_cache is not None:
            parser.error("--voicemail-prompt-cache needs --voicemail-settings")
        return None
    if args.voicemail_prompt_cache is None:
        parser.error("--voicemail-settings needs --voicemail-prompt-cache")
    try:
        settings, url, password_env = read_voicemail_settings(
            Path(args.voicemail_settings).resolve()
        )
    except ValueError as exc:
        parser.error(f"--voicemail-settings: {exc}")
    return VoicemailOptions(
        settings, Path(args.voicemail_prompt_cache).resolve(), url, password_env
    )


def store_count(url: str, password_env: str | None, deadline_ms: int) -> CountMessages:
    """`bizdata.count_voicemail` on an engine of the store (opened on first use)."""
    import bizdata  # noqa: PLC0415

    engine: list[Any] = []

    def count(box: str) -> int:
        if not engine:
            engine.append(
                bizdata.open_engine(url, password_env=password_env, deadline_ms=deadline_ms)
            )
        counts = bizdata.count_voicemail(engine[0], box)
        return int(counts.get("new", 0)) + int(counts.get("heard", 0))

    return count


@dataclass(eq=False)
class VoicemailRuntime:
    host: VoicemailHost
    pools: list[ThreadPoolExecutor] = field(default_factory=list)

    def attach(
        self,
        execute: Execute,
        events: EventPublisher,
        digits: DtmfDigits,
        recorder: CallRecording,
        *,
        ivr: IvrHost | None,
        acd: AcdDriver | None,
    ) -> None:
        """The controller's commands, events, digits and recorder; the IVR host's
        voicemail nodes and closed numbers, the ACD driver's overflow and escape key."""
        self.host.bind(execute, events, VoicemailRecording(recorder))
        digits.subscribe(self.host.on_digit)
        if ivr is not None:
            ivr.voicemail = self.host
        if acd is not None:
            acd.to_voicemail = self.host.to_voicemail
            self.host.queue_exit = acd

    def stop(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)


def sippy_voicemail(options: VoicemailOptions, *, node: str) -> VoicemailRuntime:
    """The voicemail host on Sippy's loop."""
    from sippy.Core.EventDispatcher import ED2  # noqa: PLC0415

    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="voicemail")
    count = (
        None
        if options.store_url is None
        else store_count(options.store_url, options.password_env, options.deadline_ms)
    )
    host = VoicemailHost(
        options.settings,
        renderer=PromptsRenderer(options.prompt_cache),
        count=count,
        post=ED2.callFromThread,
        later=sippy_later,
        submit=logged_jobs(pool, log, "voicemail"),
        beep=partial(beep_wav, options.prompt_cache),
        node=node,
    )
    log.info(
        "voicemail: %d boxes (and agent.<username> for %d agents), queues %s, escape key %s",
        len(options.settings.boxes),
        len(options.settings.agents),
        ",".join(f"{q}={b}" for q, b in sorted(options.settings.queue_boxes.items())) or "-",
        "set" if options.settings.escape_key else "off",
    )
    return VoicemailRuntime(host, [pool])
