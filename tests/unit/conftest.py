from __future__ import annotations

import pytest

from tests.support.fake_ksr import KsrFunction, dump_api_from_kamailio


@pytest.fixture(scope="session")
def ksr_api(tmp_path_factory: pytest.TempPathFactory) -> list[KsrFunction]:
    return dump_api_from_kamailio(tmp_path_factory.mktemp("ksr-api"))
