"""The router under test, built on a fake KSR generated from the installed Kamailio."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.routing.fake_ksr import FakeKsr, KsrFunction, dump_api_from_kamailio, installed
from tests.routing.tables import CONFIG


@pytest.fixture(scope="session")
def ksr_api(tmp_path_factory: pytest.TempPathFactory) -> list[KsrFunction]:
    """The KSR functions of the installed Kamailio (it starts one, with our config)."""
    return dump_api_from_kamailio(tmp_path_factory.mktemp("ksr-api"))


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
