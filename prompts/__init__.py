"""Spoken prompts: text rendered by espeak-ng to the WAV files rtpengine plays.

`render(text, language, cache_dir)` returns the path of a cached 8 kHz mono
16-bit WAV; `say` words data values (amounts, dates, numbers, digit strings) for it;
`concat_wavs` joins prompts into one file for one `play media`; `prewarm` renders
fixed prompts ahead; `queue_position_text` words the ACD's queue announcements;
`hold_music` is the music on hold they play over.
Mandarin goes through `mandarin_speakable` (numbers by cn2an, then pinyin with
tone numbers). See docs/prompts.md.
"""

from ._announcements import queue_position_text, round_wait_minutes
from ._cache import RENDERER_VERSION
from ._engine import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH, EspeakSox, Synthesiser
from ._errors import PromptError
from ._languages import LANGUAGES, VOICES, Language
from ._mandarin import mandarin_speakable, normalise_numbers, to_pinyin
from ._music import hold_music
from ._prewarm import Prewarmed, prewarm
from ._render import render, speakable_text
from ._spoken import SAY_AS, SayAs, say
from ._wavfiles import check_prompt_wav, concat_wavs, wav_duration_ms

__all__ = [
    "CHANNELS",
    "LANGUAGES",
    "RENDERER_VERSION",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "SAY_AS",
    "VOICES",
    "EspeakSox",
    "Language",
    "Prewarmed",
    "PromptError",
    "SayAs",
    "Synthesiser",
    "check_prompt_wav",
    "concat_wavs",
    "hold_music",
    "mandarin_speakable",
    "normalise_numbers",
    "prewarm",
    "queue_position_text",
    "render",
    "round_wait_minutes",
    "say",
    "speakable_text",
    "to_pinyin",
    "wav_duration_ms",
]
