"""The Recordings page and the Supervisor page's voicemail under Streamlit AppTest, on a
SQLite business store seeded through the bizdata functions and a small WAV under a
recording directory: search by each key, play (the audit row written), legal hold,
status/pauses/failures, refusals of a viewer without the role."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

import bizdata
from dashboards import queries
from dashboards.queries import (
    AccountInfo,
    Backend,
    CommandResult,
    LiveSnapshot,
    RecordingIndex,
    StaticAccounts,
    Supervisor,
)

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
# Yesterday 09:00 UTC: inside the page's default range (the last 7 days) whenever the
# browser test runs, which uses the real clock.
T0 = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
NOW = (T0 + timedelta(hours=3)).timestamp()
PASSWORDS = {"boss": "s3cret-boss", "agent1": "s3cret-agent", "root": "s3cret-root"}
# Cheap argon2 parameters: the page checks the password at login and at every playback.
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
ACCOUNTS = StaticAccounts(
    {
        "boss": AccountInfo("boss", ("agent", "supervisor"), _FAST.hash(PASSWORDS["boss"])),
        "agent1": AccountInfo("agent1", ("agent",), _FAST.hash(PASSWORDS["agent1"])),
        "root": AccountInfo("root", ("admin",), _FAST.hash(PASSWORDS["root"])),
    }
)
# Three recordings: an on-demand one, stored, with a pause; an always-on one that
# failed (its segments never came); one still recording.
STORED, FAILED, RUNNING = "a" * 32, "b" * 32, "c" * 32


class NoReports:
    def report(self, method: str, **params: Any) -> pd.DataFrame:
        return pd.DataFrame(columns=queries.TODAY_COLUMNS)


class NoLive:
    def snapshot(self) -> LiveSnapshot:
        return LiveSnapshot(NOW, (), (), "test")


class VoicemailCommands:
    """The ACD's voicemail RPCs as the page calls them (GrpcAcdCommands against a real
    ACD is tested in tests/acdsvc)."""

    def __init__(self, wav: bytes) -> None:
        self.wav = wav
        self.calls: list[tuple[str, str, str]] = []
        self.messages = [
            {
                "message_id": "d" * 32,
                "box": "billing",
                "caller": "13800138000",
                "received_at": T0.isoformat(),
                "duration_s": 4.2,
                "heard": False,
                "call_id": "vm-call-1",
            }
        ]

    def list_voicemail(
        self, actor: Supervisor, box: str = "", include_heard: bool = False
    ) -> CommandResult:
        self.calls.append(("list", box, actor.username))
        return CommandResult(True, "1 messages", list(self.messages))

    def voicemail_audio(self, actor: Supervisor, message_id: str) -> CommandResult:
        self.calls.append(("audio", message_id, actor.username))
        return CommandResult(True, "done", self.wav)

    def mark_voicemail_heard(self, actor: Supervisor, message_id: str) -> CommandResult:
        self.calls.append(("heard", message_id, actor.username))
        return CommandResult(True, "done")

    def delete_voicemail(self, actor: Supervisor, message_id: str) -> CommandResult:
        self.calls.append(("delete", message_id, actor.username))
        self.messages = []
        return CommandResult(True, "done")


def small_wav(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 2 * int(8000 * seconds))
    return out.getvalue()


def seed(directory: Path) -> tuple[str, Path]:
    """A migrated SQLite store under `directory` with the three recordings, and the
    recording directory holding the stored one's WAV: (store URL, recording dir)."""
    url = f"sqlite:///{directory / 'store.sqlite'}"
    bizdata.migrate(url)
    engine = bizdata.open_engine(url)
    wav_dir = directory / "wav"
    common = {"media_node": "127.0.0.1:2223", "queue": "billing"}
    bizdata.recording_started(
        engine,
        ref=STORED,
        call_id="call-stored",
        name="complaint about the bill",
        reason="on_demand",
        caller="13800138000",
        agent="1001",
        number="95598",
        started_at=T0,
        **common,
    )
    bizdata.recording_paused(engine, STORED, at=T0 + timedelta(seconds=12), reason="agent")
    bizdata.recording_resumed(engine, STORED, at=T0 + timedelta(seconds=15.5))
    bizdata.recording_stopped(engine, STORED, at=T0 + timedelta(seconds=30), segments=2)
    file = f"{T0:%Y/%m/%d}/{STORED}.wav"
    (wav_dir / file).parent.mkdir(parents=True)
    (wav_dir / file).write_bytes(small_wav())
    bizdata.recording_stored(engine, STORED, file=file, duration_ms=30_000)
    bizdata.recording_started(
        engine,
        ref=FAILED,
        call_id="call-failed",
        name="",
        reason="always",
        caller="13900139000",
        agent="1002",
        number="95598",
        started_at=T0 + timedelta(hours=1),
        **common,
    )
    bizdata.recording_stopped(engine, FAILED, at=T0 + timedelta(hours=1, seconds=20), segments=1)
    bizdata.recording_failed(engine, FAILED, reason="missing", detail="1 of 1 segments missing")
    bizdata.recording_started(
        engine,
        ref=RUNNING,
        call_id="call-running",
        name="",
        reason="always",
        caller="13700137000",
        agent="1003",
        number="4008",
        started_at=T0 + timedelta(hours=2),
        **common,
    )
    engine.dispose()
    return url, wav_dir


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    url, wav_dir = seed(tmp_path_factory.mktemp("recordings"))
    engine = bizdata.open_engine(url)
    yield engine, wav_dir
    engine.dispose()


@pytest.fixture
def backend(store: tuple[Any, Path]) -> Iterator[Backend]:
    engine, wav_dir = store
    index = RecordingIndex(str(engine.url), wav_dir)
    b = Backend(
        reports=NoReports(),
        live=NoLive(),
        accounts=ACCOUNTS,
        commands=VoicemailCommands(small_wav(0.2)),  # type: ignore[arg-type]
        timezone="UTC",
        clock=lambda: NOW,
        language="en",  # the assertions read the English texts
        recordings=index,
    )
    queries.set_backend(b)
    yield b
    queries.set_backend(None)


def page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def login(at: AppTest, user: str) -> AppTest:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(PASSWORDS[user])
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest) -> pd.DataFrame:
    """The search result: the page's first table (the access log is the last)."""
    return at.dataframe[0].value


def access_rows(engine: Any, ref: str) -> list[tuple[str, str]]:
    return [(r["actor"], r["action"]) for r in bizdata.recording_access_log(engine, ref=ref)]


def test_search_finds_by_each_key(backend: Backend) -> None:
    at = login(page("recordings"), "boss")
    assert list(table(at)["ref"]) == [RUNNING, FAILED, STORED]  # newest first
    for key, value, refs in [
        ("rec_call_id", "call-failed", [FAILED]),
        ("rec_agent", "1001", [STORED]),
        ("rec_number", "13700137000", [RUNNING]),  # the caller
        ("rec_number", "95598", [FAILED, STORED]),  # the dialled number
    ]:
        for other in ("rec_call_id", "rec_agent", "rec_number"):
            at.text_input(key=other).set_value("")
        at.text_input(key=key).set_value(value).run()
        assert not at.exception, at.exception
        assert list(table(at)["ref"]) == refs, (key, value)
    at.text_input(key="rec_number").set_value("").run()
    day = T0.date()
    at.date_input(key="rec_range").set_value((day - timedelta(days=3), day - timedelta(days=1)))
    at.run()
    assert len(table(at)) == 0
    assert any("No recording matches" in i.value for i in at.info)


def test_status_pauses_and_failures_are_shown(backend: Backend) -> None:
    at = login(page("recordings"), "boss")
    rows = table(at).set_index("ref")
    assert rows.loc[STORED, "status"] == "stored"
    assert rows.loc[STORED, "pauses"] == "0:12.0–0:15.5 agent"
    assert rows.loc[STORED, "duration_s"] == 30.0
    assert rows.loc[FAILED, "status"] == "failed"
    assert rows.loc[FAILED, "failure"] == "missing: 1 of 1 segments missing"
    assert rows.loc[RUNNING, "status"] == "recording"
    at.selectbox(key="rec_ref").set_value(FAILED).run()
    assert any("missing" in e.value for e in at.error)
    # A failed recording without a file plays nothing, and logs no playback.
    at.button(key="rec_play").click().run()
    assert any("No file to play" in e.value for e in at.error)
    assert not at.get("audio")


def test_play_checks_the_role_and_writes_the_audit_row(
    backend: Backend, store: tuple[Any, Path]
) -> None:
    engine = store[0]
    before = len(access_rows(engine, STORED))
    at = login(page("recordings"), "boss")
    at.selectbox(key="rec_ref").set_value(STORED).run()
    assert any("Paused" in c.value and "0:12.0" in c.value for c in at.caption)
    at.button(key="rec_play").click().run()
    assert not at.exception, at.exception
    assert len(at.get("audio")) == 1
    at.button(key="rec_play").click().run()
    plays = access_rows(engine, STORED)[: len(access_rows(engine, STORED)) - before]
    assert plays == [("boss", "play"), ("boss", "play")]
    log = at.dataframe[-1].value
    assert list(log["action"])[:2] == ["play", "play"]
    # The bytes the player got are the file's.
    assert (
        queries.play_recording(backend, Supervisor("boss", PASSWORDS["boss"]), STORED)
        == small_wav()
    )


def test_an_agent_role_viewer_is_refused(backend: Backend, store: tuple[Any, Path]) -> None:
    engine = store[0]
    before = access_rows(engine, STORED)
    at = login(page("recordings"), "agent1")
    assert any("no supervisor role" in e.value for e in at.error)
    assert "supervisor" not in at.session_state
    assert not [b for b in at.button if b.key and b.key.startswith("rec_")]
    # A page tampered with (a session claiming the role) is refused at playback: the
    # account is checked again, and nothing is logged.
    at.session_state["supervisor"] = Supervisor("agent1", PASSWORDS["agent1"], ("supervisor",))
    at.run()
    at.selectbox(key="rec_ref").set_value(STORED).run()
    at.button(key="rec_play").click().run()
    assert any("Refused" in e.value and "no supervisor role" in e.value for e in at.error)
    assert not at.get("audio")
    with pytest.raises(queries.RecordingRefused):
        queries.play_recording(backend, Supervisor("agent1", PASSWORDS["agent1"]), STORED)
    with pytest.raises(queries.RecordingRefused):
        queries.set_legal_hold(backend, Supervisor("agent1", PASSWORDS["agent1"]), STORED, True)
    assert access_rows(engine, STORED) == before
    # An admin may.
    assert queries.play_recording(backend, Supervisor("root", PASSWORDS["root"]), STORED)
    assert access_rows(engine, STORED)[0] == ("root", "play")


def test_legal_hold_on_and_off_is_logged(backend: Backend, store: tuple[Any, Path]) -> None:
    engine = store[0]
    at = login(page("recordings"), "boss")
    at.selectbox(key="rec_ref").set_value(FAILED).run()
    at.button(key="rec_hold").click().run()
    assert not at.exception, at.exception
    assert bizdata.get_recording(engine, FAILED)["legal_hold"] is True
    assert bool(table(at).set_index("ref").loc[FAILED, "legal_hold"])
    assert at.button(key="rec_hold").label.startswith("Release")
    at.button(key="rec_hold").click().run()
    assert bizdata.get_recording(engine, FAILED)["legal_hold"] is False
    assert access_rows(engine, FAILED)[:2] == [("boss", "release"), ("boss", "hold")]


def test_supervisor_page_voicemail_list_play_mark_heard_delete(backend: Backend) -> None:
    at = login(page("supervisor"), "boss")
    commands = backend.commands
    assert isinstance(commands, VoicemailCommands)
    vm = at.dataframe[-1].value  # after the agents
    assert list(vm["caller"]) == ["13800138000"]
    message_id = "d" * 32
    at.button(key="vm_play").click().run()
    assert len(at.get("audio")) == 1
    at.button(key="vm_mark_heard").click().run()
    assert not at.exception, at.exception
    at.button(key="vm_delete").click().run()
    assert not at.exception, at.exception
    assert [c for c in commands.calls if c[0] != "list"] == [
        ("audio", message_id, "boss"),
        ("heard", message_id, "boss"),
        ("delete", message_id, "boss"),
    ]
    assert any("No voicemail message" in i.value for i in at.info)
    assert any(": done" in s.value for s in at.success)


def test_callcenter_writes_the_index_and_directory_into_the_settings(tmp_path: Path) -> None:
    """`callcenter up`'s dashboards settings name the store and recording.dir (relative to
    the run directory) when the config records; without `recording:` they stay empty."""
    import yaml

    from callcenter._stack import layout_for, write_runtime_config
    from configuration import load_config
    from dashboards import DashboardSettings
    from dashboards.queries import backend_from_settings

    config = {
        "version": 1,
        "node": {"name": "dash", "run_dir": str(tmp_path / "run")},
        "sip": {"realm": "dash.test"},
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "bizdata": {},
        "recording": {"managed": False, "dir": "recordings/wav"},
        "dashboards": {"managed": False},
    }
    path = tmp_path / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config))
    layout = layout_for(load_config(path), tmp_path)
    layout.create()
    write_runtime_config(load_config(path), layout)
    settings = DashboardSettings.model_validate_json(layout.dashboard_settings.read_text())
    assert settings.recording_dir == str(tmp_path / "run" / "recordings" / "wav")
    assert settings.store_url == bizdata.store_url(load_config(path).bizdata, layout.root)
    b = backend_from_settings(settings)
    assert b.recordings is not None and b.recordings.recording_dir == Path(settings.recording_dir)
    del config["recording"]
    path.write_text(yaml.safe_dump(config))
    write_runtime_config(load_config(path), layout)
    settings = DashboardSettings.model_validate_json(layout.dashboard_settings.read_text())
    assert (settings.store_url, settings.recording_dir) == ("", "")
    assert backend_from_settings(settings).recordings is None
