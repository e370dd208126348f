"""Browser fixtures: one local server (with and without cross-origin isolation), one headless Chromium a session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tools.browser import launchChromium
from tools.devserver import DevServer

from .harness import PageRun, PageSpec, runPage

type RunPage = Callable[[PageSpec], PageRun]


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server() -> Iterator[DevServer]:
    """The repository served from 127.0.0.1 with the COOP/COEP headers PyScript workers want."""
    with DevServer(isolated=True) as running:
        yield running


@pytest.fixture(scope="session")
def plainServer() -> Iterator[DevServer]:
    """The same files without COOP/COEP, like static hosting that cannot set headers (GitHub Pages)."""
    with DevServer(isolated=False) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = launchChromium(playwright)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def openPage(browser: Browser, server: DevServer) -> RunPage:
    """Run a page on the isolated server and return what it reported."""
    return lambda spec: runPage(browser, server.origin, spec)


@pytest.fixture(scope="session")
def openPlainPage(browser: Browser, plainServer: DevServer) -> RunPage:
    """Run a page on the server without cross-origin isolation."""
    return lambda spec: runPage(browser, plainServer.origin, spec)
