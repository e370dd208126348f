"""Runs an example headless: serves the repository, opens the example in Chromium, prints what the page shows.

Exits 0 when the page sets ``window.exampleStatus = "ok"``, 1 when it reports a failure or shows an error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tools.browser import Console, PageError, launchChromium, waitForPage
from tools.devserver import REPOSITORY, DevServer


def runExample(browser: Browser, origin: str, folder: Path, *, timeout: float) -> bool:
    """Run the example in ``folder``; print its console while it runs and what the page shows at the end."""
    path = folder.resolve().relative_to(REPOSITORY).as_posix()
    page = browser.new_page()
    try:
        console = Console(page, echo=True)
        started = time.monotonic()
        print(f"opening {origin}/{path}/index.html in headless Chromium", flush=True)
        page.goto(f"{origin}/{path}/index.html")
        try:
            waitForPage(page, console, "window.exampleStatus !== undefined", timeout=timeout)
        except PageError as error:
            print(error, file=sys.stderr)
            return False
        output = page.inner_text("#output")
        print(f"\n--- what the page shows ({time.monotonic() - started:.1f} s after opening it) ---\n{output}")
        return bool(page.evaluate("window.exampleStatus") == "ok")
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", type=Path, help="an example folder, such as examples/01-hello")
    parser.add_argument("--timeout", type=float, default=90.0)
    options = parser.parse_args()
    with DevServer() as server, sync_playwright() as playwright:
        browser = launchChromium(playwright)
        succeeded = runExample(browser, server.origin, options.example, timeout=options.timeout)
        browser.close()
    sys.exit(0 if succeeded else 1)


if __name__ == "__main__":
    main()
