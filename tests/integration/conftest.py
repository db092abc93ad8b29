"""The real stack for integration tests: started once per module, logs kept on failure."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from testbed import (
    ChromiumBrowser,
    Stack,
    artifact_dir,
    base_config,
    build_bundle,
    running_browser,
    running_stack,
    unregister_all,
)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    config, passwords = base_config(workdir)
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as running:
        yield running
        if request.session.testsfailed > failed_before:
            keep = artifact_dir(f"{request.node.nodeid}-stack")
            shutil.copytree(running.layout.logs, keep, dirs_exist_ok=True)


@pytest.fixture
def clean_registrations(stack: Stack) -> Iterator[None]:
    """An empty registrar before and after the test (use with usefixtures)."""
    unregister_all(stack)
    yield
    unregister_all(stack)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[ChromiumBrowser]:
    """One Chromium per module (Debian's, driven by Playwright), with the softphone
    bundle built; its screenshots and page logs go to the module's artifact folder."""
    build_bundle()
    with running_browser(artifact_dir(request.node.nodeid)) as running:
        yield running
