"""The IVR's tests speak data through a stand-in for `prompts.say`, so they check what
the interpreter asks for (the value, how to say it, in which language) and not the
wording of the prompts package."""

from __future__ import annotations

import pytest

from ivr import _template


def fake_say(value: object, as_: str, language: str) -> str:
    return f"<{as_}:{value}:{language}>"


@pytest.fixture(autouse=True)
def _say_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_template, "say", fake_say)
