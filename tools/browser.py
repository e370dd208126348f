"""Headless Chromium for tests, demo and benchmarks: how to launch it here and how to wait on a PyScript page."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = Path(os.environ.get("WORKERLIB_CHROMIUM", "/usr/bin/chromium"))
# Quiet on a closed network: without these Chromium keeps retrying Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# A console line with a Python traceback means a script died; waiting on would only time out later.
FATAL_MARKERS = ("Traceback (most recent call last)", "PythonError")


class PageError(AssertionError):
    """A page showed an error, printed a Python traceback, or never got ready; the message holds the console."""


def launchChromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with the flags this closed network needs."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(
            f"{CHROMIUM} is missing: 'make test' installs Debian's chromium, or set WORKERLIB_CHROMIUM"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class Console:
    """Collects console lines from a page and its workers, and notices the first fatal one."""

    def __init__(self, page: Page, *, echo: bool = False) -> None:
        self.lines: list[str] = []
        self.fatal = threading.Event()
        self.echo = echo
        page.on("console", self._onMessage)
        page.on("pageerror", self._onPageError)
        page.on("worker", lambda worker: worker.on("console", self._onMessage))

    def add(self, line: str) -> None:
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)
        if any(marker in line for marker in FATAL_MARKERS):
            self.fatal.set()

    def _onMessage(self, message: ConsoleMessage) -> None:
        self.add(f"[{message.type}] {message.text}")

    def _onPageError(self, error: Error) -> None:
        self.add(f"[pageerror] {error.message}\n{error.stack or ''}")


def pageErrors(page: Page) -> list[str]:
    """The texts of the error banners PyScript put on the page."""
    return [str(text) for text in page.eval_on_selector_all(".py-error", "els => els.map(e => e.textContent)")]


def failure(reason: str, page: Page, console: Console, errors: list[str]) -> PageError:
    parts = [f"{reason}: {page.url}"]
    parts += [f"--- error shown on the page ---\n{text}" for text in errors]
    parts.append("--- console ---\n" + ("\n".join(console.lines) or "(empty)"))
    return PageError("\n".join(parts))


BANNER = "document.querySelector('.py-error') !== null"
SETTLE_SECONDS = 5.0
"""How long a failed page is given for its other sign of the failure to arrive: PyScript shows a failed main script
both as an error banner and as a traceback in the console, in either order, and on a loaded machine seconds apart."""


def failedPage(page: Page, console: Console, *, settle: float = SETTLE_SECONDS) -> PageError:
    """The report on a page that failed, the same whichever sign of it came first.

    Waits until the page shows an error banner and a script printed a traceback, at most ``settle`` seconds (a
    worker's traceback has no banner), then names both signs it saw and carries the banners and the whole console.
    """
    deadline = time.monotonic() + settle
    errors = pageErrors(page)
    while not (errors and console.fatal.is_set()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        # Either wait lets the console handlers run; the banner's wait ends as soon as it shows.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(f"() => {BANNER}" if not errors else "() => false", timeout=min(250, left * 1000))
        errors = pageErrors(page)
    signs = []
    if errors:
        signs.append("the page shows an error")
    if console.fatal.is_set():
        signs.append("a script printed a Python traceback")
    return failure(" and ".join(signs) or "the page failed", page, console, errors)


def waitForPage(page: Page, console: Console, readyCondition: str, *, timeout: float) -> None:
    """Wait until the JavaScript expression ``readyCondition`` is true, failing fast on errors.

    Raises :class:`PageError` (:func:`failedPage`) when the page shows a PyScript error banner or any script (main
    thread or worker) prints a Python traceback, and after ``timeout`` seconds.
    """
    condition = f"() => ({readyCondition}) || {BANNER}"
    started = time.monotonic()
    while True:
        try:
            page.wait_for_function(condition, timeout=250)
            break
        except PlaywrightTimeout:
            # Short waits let the console handlers run, so a worker's traceback ends the wait at once.
            if console.fatal.is_set():
                raise failedPage(page, console) from None
            if time.monotonic() - started > timeout:
                raise failure(f"not ready after {timeout:.0f} s", page, console, pageErrors(page)) from None
    if console.fatal.is_set() or pageErrors(page):
        raise failedPage(page, console)
