"""The recorder service (`python -m recorder`): beside each rtpengine host it turns
finished recordings into WAV files, keeps their index in the business store, reports
missing and failed ones loudly, deletes what is past retention, and stores voicemail
messages (docs/recording.md).

The face `callcenter up` uses is light (no store, no conversion loaded): the launch
helpers. The service itself loads on first use of its names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configuration import lazy_exports

from ._launch import (
    RECORDER_DAEMON,
    recorder_argv,
    recorder_describe,
    recorder_healthy,
    recorder_wanted,
    rtpengine_recording_args,
    spool_dir,
    wav_dir,
)

if TYPE_CHECKING:
    from ._disk import DiskState, DiskWatch
    from ._fold import Recording, SeenEvents, apply, recording_from_started
    from ._metrics import Metrics
    from ._service import RecorderService, voicemail_message_id
    from ._settings import RecorderSettings, SettingsError, settings_from_config

__all__ = [
    "RECORDER_DAEMON",
    "DiskState",
    "DiskWatch",
    "Metrics",
    "RecorderService",
    "RecorderSettings",
    "Recording",
    "SeenEvents",
    "SettingsError",
    "apply",
    "recorder_argv",
    "recorder_describe",
    "recorder_healthy",
    "recorder_wanted",
    "recording_from_started",
    "rtpengine_recording_args",
    "settings_from_config",
    "spool_dir",
    "voicemail_message_id",
    "wav_dir",
]

_LAZY = {
    **dict.fromkeys(("DiskState", "DiskWatch"), "_disk"),
    **dict.fromkeys(("Recording", "SeenEvents", "apply", "recording_from_started"), "_fold"),
    "Metrics": "_metrics",
    **dict.fromkeys(("RecorderService", "voicemail_message_id"), "_service"),
    **dict.fromkeys(("RecorderSettings", "SettingsError", "settings_from_config"), "_settings"),
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
