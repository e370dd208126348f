"""Runs an example headless: serves the repository, opens the example in Chromium, prints what the page shows.

Exits 0 when the page sets ``window.exampleStatus = "ok"``, 1 when it reports a failure or shows an error.
``--pyodide 0.29.5`` runs it on the other Pyodide release (a copy of the example whose configs name that release);
``--screenshot page.png`` saves what the page looks like at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, ViewportSize, sync_playwright

from tools.browser import Console, PageError, launchChromium, waitForPage
from tools.devserver import REPOSITORY, DevServer
from tools.pages import PYODIDE_DEFAULT, PYODIDE_RELEASES, pyodideRelease

BUILT = REPOSITORY / "build"
EXAMPLES = REPOSITORY / "examples"
SCREENSHOTS = BUILT / "screenshots"
"""Where the browser test of each example saves its screenshot (``<example>.png``), on Pyodide 314.0.2 only."""
VIEWPORT: ViewportSize = {"width": 960, "height": 720}
"""The browser window every example runs in: modest, so that a screenshot of it stays small (and the docs show the
page as the test saw it)."""
# What the examples' configs name: the default release's npm folder, relative to the example.
DEFAULT_INTERPRETER = f"node_modules/{PYODIDE_RELEASES[PYODIDE_DEFAULT].package}/pyodide.mjs"
# Every <canvas> on the page, read back: [id, width, height, [r, g, b, a, r, ...]].
READ_CANVASES = """() => Array.from(document.querySelectorAll("canvas"), (canvas) => [
  canvas.id, canvas.width, canvas.height,
  Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data),
])"""


@dataclass(frozen=True)
class Canvas:
    """The pixels a ``<canvas>`` showed at the end: ``width`` by ``height``, four bytes (RGBA) each, row by row."""

    width: int
    height: int
    rgba: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int, int]:
        """The red, green, blue and alpha of the pixel at column ``x``, row ``y``."""
        start = (y * self.width + x) * 4
        red, green, blue, alpha = self.rgba[start : start + 4]
        return red, green, blue, alpha


@dataclass
class ExampleRun:
    """What an example page showed when it finished (or failed)."""

    ok: bool
    """Whether the page set ``window.exampleStatus = "ok"``: its own checks passed."""
    shown: str = ""
    """The text of its ``#output``."""
    canvases: dict[str, Canvas] = field(default_factory=dict)
    """Each ``<canvas>`` by its id, as it was drawn at the end."""
    interpreters: set[str] = field(default_factory=set)
    """The URLs of every ``pyodide.mjs`` the page and its workers fetched."""
    console: list[str] = field(default_factory=list)
    """What the page and its workers printed to the console, each line led by its type (``[log]``, ``[error]``...)."""


def exampleFolders() -> list[Path]:
    """Every example, in order: each folder under ``examples/`` that holds an ``index.html``."""
    return sorted(path for path in EXAMPLES.iterdir() if (path / "index.html").exists())


def screenshotPath(example: Path) -> Path:
    """Where the screenshot of the example in ``example`` (its folder under ``examples/``) is saved."""
    return SCREENSHOTS / f"{example.name}.png"


def exampleFolder(folder: Path, pyodide: str = PYODIDE_DEFAULT) -> Path:
    """The example in ``folder`` set up to run on Pyodide ``pyodide``: the folder itself for the default release,
    else a copy in ``build/`` whose configs name that release's interpreter.

    The copy is two levels below the repository, as the example is, so its relative URLs (``../../node_modules``,
    ``../../build/wheels``) lead to the same files.
    """
    if pyodide == PYODIDE_DEFAULT:
        return folder
    release = pyodideRelease(pyodide)
    copy = BUILT / f"example-{folder.name}-pyodide-{pyodide}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)
    for config in copy.glob("*.toml"):
        text = config.read_text()
        if DEFAULT_INTERPRETER not in text:
            raise ValueError(f"{folder.name}/{config.name} does not name {DEFAULT_INTERPRETER} as its interpreter")
        config.write_text(text.replace(DEFAULT_INTERPRETER, f"node_modules/{release.package}/pyodide.mjs"))
    return copy


def runExample(
    browser: Browser, origin: str, folder: Path, *, timeout: float, screenshot: Path | None = None
) -> ExampleRun:
    """Run the example in ``folder``; print its console while it runs and what the page shows at the end.

    With ``screenshot``, a PNG of the finished page (the window, not the whole length of the page) is saved there;
    a screenshot left from an earlier run is removed first, so a page that never finishes leaves none behind.
    """
    # Normalized but not resolved: build/ may be a symlink to a folder outside the repository, and the server, rooted
    # at the repository, serves the copy there through that link.
    path = Path(os.path.abspath(folder)).relative_to(REPOSITORY).as_posix()
    if screenshot is not None:
        screenshot.unlink(missing_ok=True)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        console = Console(page, echo=True)
        interpreters: set[str] = set()
        # Context-wide, so that the workers' requests are seen too.
        context.on("request", lambda request: _noteInterpreter(request.url, interpreters))
        started = time.monotonic()
        print(f"opening {origin}/{path}/index.html in headless Chromium", flush=True)
        page.goto(f"{origin}/{path}/index.html")
        try:
            waitForPage(page, console, "window.exampleStatus !== undefined", timeout=timeout)
        except PageError as error:
            print(error, file=sys.stderr)
            return ExampleRun(ok=False, interpreters=interpreters, console=console.lines)
        shown = page.inner_text("#output")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=screenshot)
        print(f"\n--- what the page shows ({time.monotonic() - started:.1f} s after opening it) ---\n{shown}")
        canvases = {
            str(name): Canvas(int(width), int(height), bytes(rgba))
            for name, width, height, rgba in page.evaluate(READ_CANVASES)
        }
        return ExampleRun(
            ok=page.evaluate("window.exampleStatus") == "ok",
            shown=shown,
            canvases=canvases,
            interpreters=interpreters,
            console=console.lines,
        )
    finally:
        context.close()


def _noteInterpreter(url: str, interpreters: set[str]) -> None:
    if url.rsplit("?", 1)[0].endswith("/pyodide.mjs"):
        interpreters.add(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", type=Path, help="an example folder, such as examples/01-hello")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--pyodide", choices=list(PYODIDE_RELEASES), default=PYODIDE_DEFAULT)
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the finished page there")
    options = parser.parse_args()
    folder = exampleFolder(options.example.resolve(), options.pyodide)
    with DevServer() as server, sync_playwright() as playwright:
        browser = launchChromium(playwright)
        run = runExample(browser, server.origin, folder, timeout=options.timeout, screenshot=options.screenshot)
        browser.close()
    sys.exit(0 if run.ok else 1)


if __name__ == "__main__":
    main()
