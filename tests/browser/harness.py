"""Builds real PyScript pages for the browser tests and runs them in headless Chromium.

A page is described by a :class:`PageSpec`: a folder of Python files under ``tests/browser/pages/``, the main script,
the named workers. :func:`buildPage` writes the ``index.html`` and TOML configs into ``build/pages/`` and loads
workerlib the way a self-hosting user would: the built wheel and wrapt's pure wheel unpacked through ``[files]``.

The page's main script reports by calling ``pagekit.finish(results)``; :func:`runPage` waits for that (or for an error)
and returns the results. Booting a page costs seconds, so each page checks many things and the tests share one run.
A page that fails raises :class:`PageFailure` carrying the Python traceback and the whole console.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

from tools.browser import Console, PageError, waitForPage

REPOSITORY = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"
PAGEKIT = Path(__file__).resolve().parent / "pagekit.py"
BUILT_PAGES = REPOSITORY / "build" / "pages"
WHEELS = REPOSITORY / "build" / "wheels"
PYODIDE_URL = "/node_modules/pyodide/pyodide.mjs"
PYSCRIPT_URL = "/node_modules/@pyscript/core/dist/core.js"

PageFailure = PageError
"""A page raised, logged a Python traceback, or never reported; the message holds the error and the console."""


@dataclass(frozen=True)
class WorkerSpec:
    """One ``<script type="py" worker name=...>`` tag."""

    name: str
    src: str = "worker.py"
    syncMainOnly: bool = False


@dataclass(frozen=True)
class PageSpec:
    """A test page: its folder under ``tests/browser/pages``, main script, workers and files shared by all scripts."""

    folder: str
    main: str = "main.py"
    workers: Sequence[WorkerSpec] = ()
    shared: Sequence[str] = ()
    title: str = "workerlib test page"


@dataclass
class PageRun:
    """What a finished page reported, and everything its console printed."""

    results: dict[str, Any]
    console: list[str] = field(default_factory=list)
    seconds: float = 0.0


def wheelUrls() -> list[str]:
    """Server URLs of the wheels every script unpacks: workerlib's own and the pure-Python wheels of wrapt and beartype.

    beartype is optional for workerlib; it is there so pages can check ``typechecked`` in main and workers.
    """
    urls = []
    for prefix in ("workerlib-", "wrapt-", "beartype-"):
        found = sorted(WHEELS.glob(f"{prefix}*-py3-none-any.whl"))
        if not found:
            raise FileNotFoundError(f"no {prefix}*.whl in {WHEELS}: run 'make wheels' first")
        urls.append("/" + found[-1].relative_to(REPOSITORY).as_posix())
    return urls


def _url(path: Path) -> str:
    return "/" + path.resolve().relative_to(REPOSITORY).as_posix()


def _config(files: Mapping[str, str], extra: Mapping[str, Any]) -> str:
    lines = [f"interpreter = {json.dumps(PYODIDE_URL)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    lines.append("")
    lines.append("[files]")
    lines += [f"{json.dumps(url)} = {json.dumps(target)}" for url, target in files.items()]
    return "\n".join(lines) + "\n"


def buildPage(spec: PageSpec) -> str:
    """Write the page's HTML and configs under ``build/pages/<folder>/`` and return its URL path."""
    source = PAGES / spec.folder
    out = BUILT_PAGES / spec.folder
    out.mkdir(parents=True, exist_ok=True)
    files = dict.fromkeys(wheelUrls(), "./*")
    files.update({_url(source / name): f"./{Path(name).name}" for name in spec.shared})
    (out / "main.toml").write_text(_config({**files, _url(PAGEKIT): "./pagekit.py"}, {}))
    tags = []
    for worker in spec.workers:
        extra = {"sync_main_only": True} if worker.syncMainOnly else {}
        (out / f"{worker.name}.toml").write_text(_config(files, extra))
        tags.append(
            f'<script type="py" worker name="{html.escape(worker.name)}" '
            f'src="{_url(source / worker.src)}" config="./{html.escape(worker.name)}.toml"></script>'
        )
    tags.append(f'<script type="py" src="{_url(source / spec.main)}" config="./main.toml"></script>')
    (out / "index.html").write_text(
        "<!doctype html>\n<html>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(spec.title)}</title>\n"
        f'<script type="module" src="{PYSCRIPT_URL}"></script>\n'
        "</head>\n<body>\n" + "\n".join(tags) + "\n</body>\n</html>\n"
    )
    return _url(out) + "/index.html"


def runPage(browser: Browser, origin: str, spec: PageSpec, *, timeout: float = 90.0) -> PageRun:
    """Load the page in a fresh browser context and wait until its main script calls ``pagekit.finish``.

    Raises :class:`PageFailure` as soon as the page shows a PyScript error or its console (main thread or workers)
    prints a Python traceback, and after ``timeout`` seconds without a result.
    """
    url = origin + buildPage(spec)
    context = browser.new_context()
    try:
        page = context.new_page()
        console = Console(page)
        started = time.monotonic()
        page.goto(url)
        waitForPage(page, console, "window.pageResult !== undefined", timeout=timeout)
        results = json.loads(page.evaluate("window.pageResult"))
        return PageRun(results=results, console=console.lines, seconds=time.monotonic() - started)
    finally:
        context.close()
