"""The router under test, built on a fake KSR generated from the installed Kamailio."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_ksr import FakeKsr, KsrFunction, installed
from tests.unit.routing.tables import CONFIG


@pytest.fixture
def router_with(ksr_api: list[KsrFunction], tmp_path: Path) -> Iterator[Any]:
    runtime = tmp_path / "runtime.json"
    runtime.write_text(json.dumps(CONFIG))

    def make(pvs: dict[str, Any], returns: dict[str, Any] | None = None) -> tuple[Any, FakeKsr]:
        fake = FakeKsr(ksr_api, pvs=dict(pvs), returns=dict(returns or {}))
        stack.append(installed(fake))
        stack[-1].__enter__()
        from routing.kemi import build_router

        return build_router(str(runtime)), fake

    stack: list[Any] = []
    yield make
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)
