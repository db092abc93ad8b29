"""Rendering the fixed prompts (menus, greetings, announcements) before the first caller.

A cold Mandarin prompt takes a tenth of a second or more to render (BENCHMARKS.md,
"Prompt rendering"); a cached one a fraction of a millisecond. Rendering them at
start-up keeps that first render off every caller's path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ._engine import Synthesiser
from ._errors import PromptError
from ._languages import Language, check_language
from ._render import DEFAULT_SYNTHESISER, prompt_path, render

# espeak-ng and sox are subprocesses: threads only wait on them, so a few at a time
# use the cores without starving the process that asked.
_MAX_WORKERS = 4


@dataclass(frozen=True)
class Prewarmed:
    rendered: int  # rendered now
    cached: int  # already in the cache


def prewarm(
    texts_by_language: Mapping[str, Iterable[str]],
    cache_dir: Path | str,
    *,
    workers: int | None = None,
    synthesiser: Synthesiser = DEFAULT_SYNTHESISER,
) -> Prewarmed:
    """Render every text of every language into `cache_dir` that is not there yet.

    Duplicates are rendered once. A text that fails does not stop the others; once all
    are done, one `PromptError` names every failure (the counts are then lost, but a
    second call finds the good ones cached).
    """
    wanted: dict[tuple[Language, str], None] = {}
    failures: list[str] = []
    for language, texts in texts_by_language.items():
        lang = check_language(language)
        for text in texts:
            wanted[(lang, text)] = None
    cached = 0
    missing: list[tuple[Language, str]] = []
    for lang, text in wanted:
        try:
            path = prompt_path(text, lang, cache_dir)
        except PromptError as exc:
            failures.append(f"{lang} {text!r}: {exc}")
            continue
        if path.is_file():
            cached += 1
        else:
            missing.append((lang, text))
    rendered = 0
    if missing:
        pool_size = workers or min(_MAX_WORKERS, os.cpu_count() or 1, len(missing))
        with ThreadPoolExecutor(pool_size, thread_name_prefix="prompt-prewarm") as pool:
            jobs: list[tuple[Language, str, Future[Path]]] = [
                (lang, text, pool.submit(render, text, lang, cache_dir, synthesiser=synthesiser))
                for lang, text in missing
            ]
            for lang, text, job in jobs:
                try:
                    job.result()
                    rendered += 1
                except PromptError as exc:
                    failures.append(f"{lang} {text!r}: {exc}")
    if failures:
        raise PromptError(
            f"{len(failures)} of {len(wanted)} prompts could not be rendered: "
            + "; ".join(failures)
        )
    return Prewarmed(rendered=rendered, cached=cached)
