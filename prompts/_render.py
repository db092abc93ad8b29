"""`render`: text and a language in, the path of a cached 8 kHz WAV out."""

from __future__ import annotations

from pathlib import Path

from ._cache import cache_key, cache_path, write_atomically
from ._digits import spell_digit_strings
from ._engine import EspeakSox, Synthesiser
from ._errors import PromptError
from ._languages import VOICES, Language, check_language
from ._mandarin import mandarin_speakable

_DEFAULT_SYNTHESISER = EspeakSox()


def speakable_text(text: str, language: Language | str) -> str:
    """The text espeak-ng is given for `text`: pinyin for Chinese, as is for English;
    phone and account numbers spelled digit by digit in both."""
    lang = check_language(language)
    if not text.strip():
        raise PromptError("prompt text is empty")
    if lang == "zh":
        return mandarin_speakable(text)
    return " ".join(spell_digit_strings(text, lang).split())


def render(
    text: str,
    language: Language | str,
    cache_dir: Path | str,
    *,
    synthesiser: Synthesiser = _DEFAULT_SYNTHESISER,
) -> Path:
    """The path of a WAV (8 kHz, mono, 16-bit PCM) speaking `text` in `language`.

    A cached file is returned without rendering. Otherwise the prompt is
    rendered into `cache_dir` (created if missing) and then returned. Raises
    `PromptError` for empty text, an unknown language, or espeak-ng or sox
    missing or failing.
    """
    lang = check_language(language)
    speakable = speakable_text(text, lang)
    voice = VOICES[lang]
    directory = Path(cache_dir)
    dest = cache_path(
        directory, lang, cache_key(text=text, language=lang, voice=voice, speakable=speakable)
    )
    if dest.is_file():
        return dest
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, lambda tmp: synthesiser(speakable, voice, tmp))
    return dest
