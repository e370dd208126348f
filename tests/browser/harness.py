"""Builds real PyScript pages for the browser tests and runs them in headless Chromium.

A page is described by a :class:`PageSpec`: a folder of Python files under ``tests/browser/pages/``, the main script,
the named workers. :func:`buildPage` writes the ``index.html`` and TOML configs into ``build/pages/`` and loads
workerlib the way a self-hosting user would: the built wheel and wrapt's pure wheel unpacked through ``[files]``.

Every script of a page runs on one Pyodide release, chosen when the page is built or run (``pyodide=``): by default
:data:`PYODIDE_DEFAULT`, 314.0.2, the interpreter PyScript 0.7.31 loads by itself (Python 3.14); or 0.29.5, which
PyScript 2026.1.x users run (Python 3.13). Both come from npm packages in ``node_modules`` (see
:data:`PYODIDE_RELEASES`), and a page built for a release other than the default goes to its own folder.

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
from playwright.sync_api import Error as PlaywrightError

from tools.browser import Console, PageError, waitForPage

REPOSITORY = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"
PAGEKIT = Path(__file__).resolve().parent / "pagekit.py"
BUILT_PAGES = REPOSITORY / "build" / "pages"
WHEELS = REPOSITORY / "build" / "wheels"
PYSCRIPT_URL = "/node_modules/@pyscript/core/dist/core.js"

PageFailure = PageError
"""A page raised, logged a Python traceback, or never reported; the message holds the error and the console."""


@dataclass(frozen=True)
class PyodideRelease:
    """A Pyodide release the pages can run on: the npm package folder serving it, and what it reports at run time."""

    version: str
    package: str
    """The folder under ``node_modules`` (``package.json`` names the npm alias ``pyodide-0.29`` for 0.29.5)."""
    python: str
    emscripten: str

    @property
    def url(self) -> str:
        """The URL of its ``pyodide.mjs``, which the pages' configs give as ``interpreter``."""
        return f"/node_modules/{self.package}/pyodide.mjs"

    @property
    def versions(self) -> dict[str, str]:
        """What ``workerlib.diagnostics.systemVersions`` reports on it, PyScript's version left out."""
        return {"Pyodide": self.version, "Python": self.python, "Emscripten": self.emscripten}


PYODIDE_RELEASES: dict[str, PyodideRelease] = {
    release.version: release
    for release in (
        PyodideRelease("314.0.2", package="pyodide", python="3.14.2", emscripten="5.0.3"),
        PyodideRelease("0.29.5", package="pyodide-0.29", python="3.13.2", emscripten="4.0.9"),
    )
}
PYODIDE_DEFAULT = "314.0.2"
"""The release every page runs on unless told otherwise: PyScript 0.7.31's own default interpreter."""


def pyodideRelease(version: str) -> PyodideRelease:
    """The release ``version``, checked against the npm package installed for it."""
    try:
        release = PYODIDE_RELEASES[version]
    except KeyError:
        raise ValueError(f"no Pyodide {version!r} here; known: {', '.join(PYODIDE_RELEASES)}") from None
    manifest = REPOSITORY / "node_modules" / release.package / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else "nothing"
    if installed != version:
        raise FileNotFoundError(
            f"node_modules/{release.package} holds {installed}, not Pyodide {version}: run 'make npm' (npm ci)"
        )
    return release


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
    timeout: float | None = None
    """Seconds the page may take to report, when its own work is long (the ``runPage`` default otherwise)."""


@dataclass
class PageRun:
    """What a finished page reported, and everything its console printed."""

    results: dict[str, Any]
    console: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pyodide: str = PYODIDE_DEFAULT
    """The Pyodide release the page ran on."""


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


def _config(interpreter: str, files: Mapping[str, str], extra: Mapping[str, Any]) -> str:
    lines = [f"interpreter = {json.dumps(interpreter)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    lines.append("")
    lines.append("[files]")
    lines += [f"{json.dumps(url)} = {json.dumps(target)}" for url, target in files.items()]
    return "\n".join(lines) + "\n"


def builtFolder(spec: PageSpec, pyodide: str = PYODIDE_DEFAULT) -> Path:
    """Where :func:`buildPage` writes the page: ``build/pages/<folder>``, ``<folder>-pyodide-<version>`` off default."""
    name = spec.folder if pyodide == PYODIDE_DEFAULT else f"{spec.folder}-pyodide-{pyodide}"
    return BUILT_PAGES / name


def buildPage(spec: PageSpec, *, pyodide: str = PYODIDE_DEFAULT) -> str:
    """Write the page's HTML and configs (every script on Pyodide ``pyodide``) and return its URL path."""
    interpreter = pyodideRelease(pyodide).url
    source = PAGES / spec.folder
    out = builtFolder(spec, pyodide)
    out.mkdir(parents=True, exist_ok=True)
    files = dict.fromkeys(wheelUrls(), "./*")
    files.update({_url(source / name): f"./{Path(name).name}" for name in spec.shared})
    (out / "main.toml").write_text(_config(interpreter, {**files, _url(PAGEKIT): "./pagekit.py"}, {}))
    tags = []
    for worker in spec.workers:
        extra = {"sync_main_only": True} if worker.syncMainOnly else {}
        (out / f"{worker.name}.toml").write_text(_config(interpreter, files, extra))
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
        page.on("request", lambda request: _noteInterpreter(request.url, interpreters))
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
        return PageRun(results=results, console=console.lines, seconds=time.monotonic() - started, pyodide=pyodide)
    finally:
        context.close()


def _noteInterpreter(url: str, interpreters: set[str]) -> None:
    if url.rsplit("?", 1)[0].endswith("/pyodide.mjs"):
        interpreters.add(url)
