"""`render`: text and a language in, the path of a cached 8 kHz WAV out."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final

from ._cache import cache_key, cache_path, write_atomically
from ._digits import spell_digit_strings
from ._engine import EspeakSox, Synthesiser
from ._errors import PromptError
from ._languages import VOICES, Language, check_language
from ._mandarin import mandarin_speakable

DEFAULT_SYNTHESISER = EspeakSox()

# Texts whose speakable form is remembered. A cached prompt is looked up on the call
# path, and cn2an and pypinyin take some 0.2 ms per Mandarin sentence, against 10 µs
# for the rest of the lookup (BENCHMARKS.md, "Prompt rendering"). A few hundred bytes
# an entry; data prompts (a new amount each) only cycle through it.
_REMEMBERED_TEXTS: Final = 4096


def speakable_text(text: str, language: Language | str) -> str:
    """The text espeak-ng is given for `text`: pinyin for Chinese, as is for English;
    phone and account numbers spelled digit by digit in both."""
    lang = check_language(language)
    if not text.strip():
        raise PromptError("prompt text is empty")
    return _speakable(text, lang)


@lru_cache(maxsize=_REMEMBERED_TEXTS)
def _speakable(text: str, lang: Language) -> str:
    # A pure function of the text while the process runs (cn2an's and pypinyin's
    # versions do not change under it); failures raise and are not remembered.
    if lang == "zh":
        return mandarin_speakable(text)
    return " ".join(spell_digit_strings(text, lang).split())


def render(
    text: str,
    language: Language | str,
    cache_dir: Path | str,
    *,
    synthesiser: Synthesiser = DEFAULT_SYNTHESISER,
) -> Path:
    """The path of a WAV (8 kHz, mono, 16-bit PCM) speaking `text` in `language`.

    A cached file is returned without rendering. Otherwise the prompt is
    rendered into `cache_dir` (created if missing) and then returned. Raises
    `PromptError` for empty text, an unknown language, or espeak-ng or sox
    missing or failing.
    """
    lang = check_language(language)
    speakable = speakable_text(text, lang)
    dest = prompt_path(text, lang, cache_dir, speakable=speakable)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, lambda tmp: synthesiser(speakable, VOICES[lang], tmp))
    return dest


def prompt_path(
    text: str, language: Language, cache_dir: Path | str, *, speakable: str | None = None
) -> Path:
    """Where `render` keeps (or will keep) the WAV of `text`, rendered or not."""
    if speakable is None:
        speakable = speakable_text(text, language)
    key = cache_key(text=text, language=language, voice=VOICES[language], speakable=speakable)
    return cache_path(Path(cache_dir), language, key)
