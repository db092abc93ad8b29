"""A monitoring session's recording on the Recordings page: its kind is shown, and it
plays (the mixer's 3-channel WAV: caller, agent, supervisors; docs/monitoring.md)."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import bizdata
from dashboards import i18n, queries
from dashboards.queries import Backend, RecordingIndex, Supervisor
from tests.dashboards.test_recordings_page import (
    ACCOUNTS,
    NOW,
    PASSWORDS,
    T0,
    NoLive,
    NoReports,
    VoicemailCommands,
    login,
    page,
    seed,
    small_wav,
    table,
)

MONITORED = "d" * 32


def three_channel_wav(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(3)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10\x00\x20\x00\x30" * int(8000 * seconds))
    return out.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    url, wav_dir = seed(tmp_path_factory.mktemp("monitor-recordings"))
    engine = bizdata.open_engine(url)
    at = T0 + timedelta(hours=2, minutes=30)
    bizdata.recording_started(
        engine,
        ref=MONITORED,
        call_id="call-monitored",
        name="sess-1",
        reason="monitor",
        media_node="mixer0",
        caller="13600136000",
        agent="1004",
        queue="",
        number="",
        started_at=at,
    )
    bizdata.recording_stopped(engine, MONITORED, at=at + timedelta(seconds=45), segments=1)
    file = f"monitor/{at:%Y-%m-%d}/{MONITORED}.wav"
    (wav_dir / file).parent.mkdir(parents=True)
    (wav_dir / file).write_bytes(three_channel_wav())
    bizdata.recording_stored(engine, MONITORED, file=file, duration_ms=500)
    yield engine, wav_dir
    engine.dispose()


@pytest.fixture
def backend(store: tuple[Any, Path]) -> Iterator[Backend]:
    engine, wav_dir = store
    b = Backend(
        reports=NoReports(),
        live=NoLive(),
        accounts=ACCOUNTS,
        commands=VoicemailCommands(small_wav(0.2)),  # type: ignore[arg-type]
        timezone="UTC",
        clock=lambda: NOW,
        language="en",
        recordings=RecordingIndex(str(engine.url), wav_dir),
    )
    queries.set_backend(b)
    yield b
    queries.set_backend(None)


def test_a_monitoring_recording_shows_its_kind_and_plays_its_three_channels(
    backend: Backend, store: tuple[Any, Path]
) -> None:
    at: AppTest = login(page("recordings"), "boss")
    rows = table(at).set_index("ref")
    assert rows.loc[MONITORED, "kind"] == "monitor"
    assert rows.loc[MONITORED, "name"] == "sess-1"  # the monitoring session
    assert set(rows["kind"]) == {"monitor", "on_demand", "always"}
    assert i18n.value_text("kind", "monitor", "en") == "monitoring (3 channels)"
    assert i18n.value_text("kind", "monitor", "zh") == "班长监控（三声道）"
    at.selectbox(key="rec_ref").set_value(MONITORED).run()
    at.button(key="rec_play").click().run()
    assert not at.exception, at.exception
    assert len(at.get("audio")) == 1
    played = queries.play_recording(backend, Supervisor("boss", PASSWORDS["boss"]), MONITORED)
    with wave.open(io.BytesIO(played)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (3, 8000, 2)
    actions = [r["action"] for r in bizdata.recording_access_log(store[0], ref=MONITORED)]
    assert actions == ["play", "play"]
