"""`python -m prompts TEXT --lang zh|en [--out FILE] [--cache-dir DIR]`: render one prompt.

Prints the path of the WAV (the cached file, or FILE when --out is given).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ._errors import PromptError
from ._languages import LANGUAGES
from ._render import render, speakable_text

# Beside the other runtime state `callcenter up` keeps under run/.
DEFAULT_CACHE_DIR = Path("run/prompts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prompts", description=__doc__.splitlines()[0])
    parser.add_argument("text", help="what to say")
    parser.add_argument("--lang", required=True, choices=LANGUAGES)
    parser.add_argument("--out", type=Path, help="also copy the WAV here")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help=f"where rendered prompts are kept (default: {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument(
        "--show-text",
        action="store_true",
        help="print the text espeak-ng is given (pinyin for zh) on stderr",
    )
    args = parser.parse_args(argv)
    try:
        if args.show_text:
            print(speakable_text(args.text, args.lang), file=sys.stderr)
        path = render(args.text, args.lang, args.cache_dir)
    except PromptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out is not None:
        shutil.copyfile(path, args.out)
        path = args.out
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
