"""Browser fixtures: one local server (with and without cross-origin isolation), one headless Chromium a session, and
the Pyodide release a module's pages run on.

Pages run on Pyodide 314.0.2 (PyScript 0.7.31's default, Python 3.14). A module that marks itself
``pytestmark = EVERY_PYODIDE`` runs its tests once per release in :data:`~.harness.PYODIDE_RELEASES` (0.29.5 too,
what PyScript 2026.1.x users run), with ids such as ``test_x[pyodide-0.29.5]``; its module-scoped page fixtures then
boot each page once per release, as pytest groups the module's tests by the release.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tools.browser import launchChromium
from tools.devserver import DevServer

from .harness import PYODIDE_DEFAULT, PYODIDE_RELEASES, PageRun, PageSpec, runPage

type RunPage = Callable[[PageSpec], PageRun]


HERE = Path(__file__).resolve().parent

EVERY_PYODIDE = pytest.mark.parametrize(
    "pyodide", list(PYODIDE_RELEASES), indirect=True, scope="module", ids=lambda version: f"pyodide-{version}"
)
"""``pytestmark = EVERY_PYODIDE``: the module's tests (and its pages) run on every Pyodide release, not only 314.0.2."""


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


@pytest.fixture(scope="module")
def pyodide(request: pytest.FixtureRequest) -> str:
    """The Pyodide release this module's pages run on: 314.0.2, or each release in turn under ``EVERY_PYODIDE``."""
    return str(getattr(request, "param", PYODIDE_DEFAULT))


@pytest.fixture(scope="module")
def openPage(browser: Browser, server: DevServer, pyodide: str) -> RunPage:
    """Run a page on the isolated server, on the module's Pyodide, and return what it reported."""
    return lambda spec: runPage(browser, server.origin, spec, pyodide=pyodide)


@pytest.fixture(scope="module")
def openPlainPage(browser: Browser, plainServer: DevServer, pyodide: str) -> RunPage:
    """Run a page on the server without cross-origin isolation, on the module's Pyodide."""
    return lambda spec: runPage(browser, plainServer.origin, spec, pyodide=pyodide)
