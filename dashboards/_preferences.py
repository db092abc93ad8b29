"""Each supervisor's dashboard language, remembered across sessions and restarts: a small
JSON file ({"username": "zh", ...}) in the run directory's data/ (the settings'
`preferences_file`). Read on every login, written on every switch: atomically (a
temporary file renamed over the old one) under an exclusive lock, so the dashboard
processes of one host never lose each other's writes and a crash leaves the old file
whole. A file that is not valid JSON is never overwritten: the switch still holds for
the session, and the error names the file and line."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PreferencesFileError(Exception):
    """The preferences file cannot be read or written (what, where)."""


class LanguagePreferences:
    """username -> language code, in one JSON file."""

    def __init__(self, path: str | Path, languages: tuple[str, ...]) -> None:
        self.path = Path(path)
        self._languages = languages

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise PreferencesFileError(f"{self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PreferencesFileError(
                f"{self.path}: line {exc.lineno}: not JSON ({exc.msg})"
            ) from None
        if not isinstance(data, dict):
            raise PreferencesFileError(f"{self.path}: line 1: not a JSON object of usernames")
        # An unknown language (a hand edit, a language since removed) reads as unset.
        return {str(k): v for k, v in data.items() if v in self._languages}

    def get(self, username: str) -> str | None:
        """The user's language, None when never chosen. PreferencesFileError."""
        with self._locked():
            return self._read().get(username)

    def set(self, username: str, language: str) -> None:
        """Remember the user's language. ValueError for a language not offered,
        PreferencesFileError when the file is broken (left as it is) or unwritable."""
        if language not in self._languages:
            raise ValueError(f"language {language!r} is not one of {self._languages}")
        with self._locked():
            data = self._read()
            if data.get(username) == language:
                return
            data[username] = language
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, ensure_ascii=False, indent=1, sort_keys=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                raise PreferencesFileError(f"{self.path}: {exc.strerror}") from None
