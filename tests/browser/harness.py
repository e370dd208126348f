"""Builds real PyScript pages for the browser tests and runs them in headless Chromium.

A page is described by a :class:`~tools.pages.PageSpec`: a folder of Python files under ``tests/browser/pages/``, the
main script, the named workers. :func:`buildPage` writes it into ``build/pages/`` with :func:`tools.pages.buildPage`
(which the benchmark and the stack probe use too), on the Pyodide release asked for.

The page's main script reports by calling ``pagekit.finish(results)``; :func:`runPage` waits for that (or for an error)
and returns the results. Booting a page costs seconds, so each page checks many things and the tests share one run.
A page that fails raises :class:`PageFailure` carrying the Python traceback and the whole console.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser
from playwright.sync_api import Error as PlaywrightError

from tools import pages
from tools.browser import Console, PageError, waitForPage
from tools.pages import (
    PYODIDE_DEFAULT,
    PYODIDE_RELEASES,
    REPOSITORY,
    WORKERLIB_WHEEL_PREFIX,
    PageSpec,
    PyodideRelease,
    WorkerSpec,
    pyodideRelease,
    url,
    wheelUrls,
)

__all__ = [
    "PYODIDE_DEFAULT",
    "PYODIDE_RELEASES",
    "REPOSITORY",
    "WORKERLIB_WHEEL_PREFIX",
    "PageFailure",
    "PageRun",
    "PageSpec",
    "PyodideRelease",
    "WorkerSpec",
    "buildPage",
    "builtFolder",
    "pyodideRelease",
    "runPage",
    "url",
    "wheelUrls",
]

PAGES = Path(__file__).resolve().parent / "pages"
BUILT_PAGES = REPOSITORY / "build" / "pages"

PageFailure = PageError
"""A page raised, logged a Python traceback, or never reported; the message holds the error and the console."""


@dataclass
class PageRun:
    """What a finished page reported, and everything its console printed."""

    results: dict[str, Any]
    console: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pyodide: str = PYODIDE_DEFAULT
    """The Pyodide release the page ran on."""
    requests: list[str] = field(default_factory=list)
    """The URL of every request the page and its workers made, in order."""


def buildPage(spec: PageSpec, *, pyodide: str = PYODIDE_DEFAULT) -> str:
    """Write a test page (a folder under ``tests/browser/pages``) into ``build/pages``; return its URL path."""
    return pages.buildPage(spec, pages=PAGES, built=BUILT_PAGES, pyodide=pyodide)


def builtFolder(spec: PageSpec, pyodide: str = PYODIDE_DEFAULT) -> Path:
    """Where :func:`buildPage` writes a test page."""
    return pages.builtFolder(spec, BUILT_PAGES, pyodide)


def runPage(
    browser: Browser, origin: str, spec: PageSpec, *, pyodide: str = PYODIDE_DEFAULT, timeout: float = 90.0
) -> PageRun:
    """Load the page, every script on Pyodide ``pyodide``, in a fresh browser context and wait until its main script
    calls ``pagekit.finish``.

    Raises :class:`PageFailure` as soon as the page shows a PyScript error or its console (main thread or workers)
    prints a Python traceback, and after ``timeout`` seconds without a result; also when the page fetched any other
    Pyodide than the one asked for, and when the browser lost the page (its renderer crashed), with the console so far.
    """
    url = origin + buildPage(spec, pyodide=pyodide)
    context = browser.new_context()
    try:
        page = context.new_page()
        console = Console(page)
        interpreters: set[str] = set()
        requests: list[str] = []
        page.on("request", lambda request: _noteInterpreter(request.url, interpreters))
        # Context-wide, so that what workers fetch (their configs, files and packages) is seen too.
        context.on("request", lambda request: requests.append(request.url))
        started = time.monotonic()
        try:
            page.goto(url)
            waitForPage(page, console, "window.pageResult !== undefined", timeout=spec.timeout or timeout)
            results = json.loads(page.evaluate("window.pageResult"))
        except PlaywrightError as error:
            seconds = time.monotonic() - started
            lines = "\n".join(console.lines) or "(empty)"
            raise PageFailure(
                f"{url} on Pyodide {pyodide}: {error.message} after {seconds:.0f} s\n--- console ---\n{lines}"
            ) from error
        expected = origin + pyodideRelease(pyodide).url
        if interpreters != {expected}:
            raise PageFailure(f"{url} asked for Pyodide {pyodide} ({expected}) but fetched {sorted(interpreters)}")
        return PageRun(
            results=results,
            console=console.lines,
            seconds=time.monotonic() - started,
            pyodide=pyodide,
            requests=requests,
        )
    finally:
        context.close()


def _noteInterpreter(url: str, interpreters: set[str]) -> None:
    if url.rsplit("?", 1)[0].endswith("/pyodide.mjs"):
        interpreters.add(url)
