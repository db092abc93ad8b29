"""`queues[]` music-on-hold keys and what `callcenter up` passes to the controllers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter._stack import controller_argv
from configuration import ConfigError, parse_config
from controller._app import parse_args
from controller._queue_media import QueueMediaSettings


def _yaml(queues: list[dict[str, Any]], *, acd: bool = True) -> str:
    data: dict[str, Any] = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "queues": queues,
        "numbers": [
            {
                "number": "95598",
                "category": "billing",
                "target": "controller",
                **({"queue": "billing"} if acd else {}),
            }
        ],
    }
    if acd:
        data["acd"] = {"listen": "127.0.0.1:50051"}
    return yaml.safe_dump(data, sort_keys=False)


def test_queue_defaults_mandarin_every_30_s_and_the_built_in_music() -> None:
    (queue,) = parse_config(_yaml([{"name": "billing"}])).queues
    assert (queue.language, queue.announce_every_ms, queue.music_file) == ("zh", 30_000, None)
    assert queue.music_after_ms == 1_000, "music only once the caller has waited a second"


def test_callcenter_up_gives_each_replica_the_cache_and_every_queue(tmp_path: Path) -> None:
    config = parse_config(
        _yaml(
            [
                {"name": "billing"},
                {
                    "name": "vip",
                    "language": "en",
                    "announce_every_ms": 45_500,
                    "music_file": "/srv/moh/vip.wav",
                    "music_after_ms": 0,
                },
            ]
        )
    )
    argv = controller_argv(config, 0, tmp_path / "run" / "prompts")
    at = argv.index("--prompt-cache")
    assert argv[at + 1] == str((tmp_path / "run" / "prompts").resolve())
    media = [argv[i + 1] for i, a in enumerate(argv) if a == "--queue-media"]
    assert media == ["billing:zh:30", "vip:en:45.5:/srv/moh/vip.wav"]
    after = [argv[i + 1] for i, a in enumerate(argv) if a == "--music-after"]
    assert after == ["billing=1", "vip=0"]
    # What the replica makes of them.
    parsed = parse_args(argv[3:]).queue_media
    assert parsed is not None
    assert parsed.for_queue("vip") == QueueMediaSettings(
        "en", 45.5, Path("/srv/moh/vip.wav"), music_after_s=0.0
    )
    assert parsed.for_queue("billing") == QueueMediaSettings("zh", 30.0, music_after_s=1.0)


def test_no_music_arguments_without_a_cache_or_without_an_acd(tmp_path: Path) -> None:
    with_acd = parse_config(_yaml([{"name": "billing"}]))
    assert "--prompt-cache" not in controller_argv(with_acd, 0)
    without = parse_config(_yaml([{"name": "billing"}], acd=False))
    assert "--prompt-cache" not in controller_argv(without, 0, tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("language", "fr", "language"),
        ("announce_every_ms", -1, "announce_every_ms"),
        ("music_file", "moh.wav", "music_file must be an absolute path"),
        ("music_after_ms", -1, "music_after_ms"),
    ],
)
def test_bad_queue_music_settings(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_yaml([{"name": "billing", key: value}]))
