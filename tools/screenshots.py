"""Runs the examples headless and copies each one's screenshot into the docs (``make screenshots``).

Each example runs on Pyodide 314.0.2 as its browser test does (``tools/demo.py``'s ``runExample``), which saves a PNG
of the finished page to ``build/screenshots/<example>.png``. When the page finished with ``example finished: OK``,
that PNG is copied to ``docs/_static/examples/<example>.png``, where ``docs/examples.rst`` shows it. A page that fails
stops the run before anything of it is copied, so the docs never show a broken page.

``python tools/screenshots.py`` does every example (and removes the docs' screenshots of examples that are gone);
``python tools/screenshots.py examples/06-migration`` only the ones named.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from tools.browser import launchChromium
from tools.demo import exampleFolders, runExample, screenshotPath
from tools.devserver import REPOSITORY, DevServer

DOCS_SCREENSHOTS = REPOSITORY / "docs" / "_static" / "examples"
"""Where the docs keep the screenshots, one ``<example>.png`` per example (committed)."""


def docsScreenshot(example: Path) -> Path:
    """Where the docs keep the screenshot of ``example``."""
    return DOCS_SCREENSHOTS / f"{example.name}.png"


def takeScreenshots(examples: list[Path], *, timeout: float) -> list[Path]:
    """Run each example, and copy its screenshot into the docs; return the copies, or raise ``RuntimeError`` naming
    the first example that did not finish OK."""
    copied = []
    with DevServer() as server, sync_playwright() as playwright:
        browser = launchChromium(playwright)
        try:
            for example in examples:
                shot = screenshotPath(example)
                run = runExample(browser, server.origin, example, timeout=timeout, screenshot=shot)
                if not run.ok or not shot.exists():
                    raise RuntimeError(f"{example.name} did not finish OK, so its screenshot was not copied")
                DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                copied.append(Path(shutil.copyfile(shot, docsScreenshot(example))))
        finally:
            browser.close()
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=Path, nargs="*", help="example folders (default: every example)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds each page may take")
    options = parser.parse_args(argv)
    known = exampleFolders()
    chosen = [path.resolve() for path in options.examples] or known
    unknown = [str(path) for path in chosen if path not in known]
    if unknown:
        listed = ", ".join(unknown)
        print(f"error: not an example folder (one under examples/ with an index.html): {listed}", file=sys.stderr)
        return 2
    try:
        copied = takeScreenshots(chosen, timeout=options.timeout)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not options.examples:  # the whole set: a screenshot whose example is gone goes too
        for stale in set(DOCS_SCREENSHOTS.glob("*.png")) - set(copied):
            stale.unlink()
            print(f"removed {stale.relative_to(REPOSITORY)} (no such example)")
    for path in copied:
        print(f"{path.relative_to(REPOSITORY)}: {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
