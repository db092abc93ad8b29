"""The IVR's prompts as rtpengine plays them: one WAV per `Play` action.

A `Play` lists items, spoken text (`Tts`) and recordings (`Wav`); rtpengine plays one
file at a time, and the interpreter must hear of the end of the whole prompt, so the
items become one WAV: each text rendered by `prompts.render` (cached by content), then
all joined (`prompts.concat_wavs`, cached too). This runs on a worker thread:
espeak-ng and sox take tens of milliseconds, far too long for the SIP loop.

The fixed text the host itself speaks (voicemail on a replica that takes no messages)
is here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import prompts
from controller._ivr_ports import RenderedPrompt
from ivr import PromptItem, Tts, Wav

__all__ = ["VOICEMAIL_GREETING", "PromptsRenderer", "one_wav", "voicemail_greeting"]

# A replica run without voicemail (no --voicemail-settings) says so and the call ends.
VOICEMAIL_GREETING = {
    "zh": "您好，您已进入留言信箱。留言服务暂未开通，请在工作时间再次致电。再见。",
    "en": "You have reached our voicemail. Messages cannot be left yet; "
    "please call again during our opening hours. Goodbye.",
}


def voicemail_greeting(box: str, language: str) -> Tts:
    """What a replica without voicemail says in the call's language (Mandarin when it
    has none of ours), whatever the box."""
    del box
    lang = language if language in VOICEMAIL_GREETING else "zh"
    return Tts(VOICEMAIL_GREETING[lang], lang)


def one_wav(paths: Sequence[Path], cache_dir: Path) -> Path:
    """The one WAV rtpengine plays for `paths` in a row: a single one as it is, several
    joined (`prompts.concat_wavs`, which would copy even a single one)."""
    return paths[0] if len(paths) == 1 else prompts.concat_wavs(paths, cache_dir)


class PromptsRenderer:
    """`PromptRenderer` on `prompts`: files in `cache_dir`, which rtpengine reads."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        render: Callable[[str, str, Path], Path] = prompts.render,
        concat: Callable[[Sequence[Path], Path], Path] = one_wav,
        duration_ms: Callable[[Path], int] = prompts.wav_duration_ms,
    ) -> None:
        self.cache_dir = cache_dir
        self._render = render
        self._concat = concat
        self._duration_ms = duration_ms

    def render(self, items: Sequence[PromptItem]) -> RenderedPrompt:
        if not items:
            raise prompts.PromptError("a prompt with nothing to play")
        paths: list[Path] = []
        for item in items:
            if isinstance(item, Tts):
                paths.append(self._render(item.text, item.language, self.cache_dir))
            elif isinstance(item, Wav):
                paths.append(Path(item.path))
        path = self._concat(paths, self.cache_dir).resolve()
        return RenderedPrompt(path, self._duration_ms(path))
