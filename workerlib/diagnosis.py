"""Diagnosis: elapsed times, the versions of the runtime's parts, a report of the platform, and logging.

The report itself is :data:`diagnostics`, which the package exports: ``from workerlib import diagnostics`` is the
sequence of printable lines, as in the original workerlib. This module was ``workerlib.diagnostics`` until that name
went back to the lines; the report carries this module's names as attributes, so ``diagnostics.elapsedTime`` works.

Everything here works the same in plain CPython, on PyScript's main thread and in a worker. What depends on the
browser is detected on first use rather than at import, because finding PyScript's version may cost a request to
the server (see :data:`systemVersions`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TextIO, overload

from ._runtime import Context, context, importBrowserModule
from ._version import VERSION

ABSENT = "absent"
"""The value given for a part that is not there at all, such as PyScript, Pyodide and Emscripten in plain CPython."""

UNKNOWN = "unknown"
"""The value given for a part that is there but whose version could not be found out."""

LOGGER_NAME = "workerlib"
"""Name of the logger workerlib writes to; modules log to children of it (``workerlib.client``...)."""

COMPONENTS = ("PyScript", "Pyodide", "Python", "Emscripten")
"""The keys of :data:`systemVersions`, in order."""

_logger = logging.getLogger(LOGGER_NAME)
# A library must not print through logging's last-resort handler: without this, a warning logged here would reach
# stderr (the browser console) in every application that never configured logging.
_logger.addHandler(logging.NullHandler())


def elapsedTime(startTime: float, *, now: float | None = None) -> str:
    """The time from ``startTime`` to ``now`` (both ``time.time()`` values; ``now`` defaults to the current time).

    The result is rounded to a tenth of a millisecond and written ``"<ms> ms"`` with one decimal while that reads
    below 1000 (``"0.0 ms"``, ``"12.3 ms"``, ``"999.9 ms"``), otherwise ``"<s> s"`` with two decimals (``"1.00 s"``,
    ``"4.56 s"``, ``"3600.00 s"``; seconds are never turned into minutes). A time that rounds to 1000.0 ms is given
    in seconds, so ``"1000.0 ms"`` never appears. A ``now`` before ``startTime`` (the clock was set back) gives
    ``"0.0 ms"``.
    """
    seconds = max((time.time() if now is None else now) - startTime, 0.0)
    milliseconds = f"{seconds * 1000:.1f}"
    if float(milliseconds) < 1000:
        return f"{milliseconds} ms"
    return f"{seconds:.2f} s"


# --- versions ---------------------------------------------------------------------------------------------------

# PyScript's bundle carries no version string (0.7.31 has none in its JavaScript, its `pyscript` Python package or its
# globals), so the version is read from where the core was loaded from: a CDN's versioned path, or the package.json
# that sits beside `dist/` in the npm package.
_NPM_PATH = re.compile(r"/@pyscript/core@(\d[\w.+-]*)/")
_RELEASE_PATH = re.compile(r"/releases/(\d{4}\.\d+\.\d+[\w.+-]*)/")
# PyScript builds its workers from a blob of code in which polyscript has made every dynamic import of its own chunks
# absolute (`import("https://host/.../dist/toml-XXXX.js")`): the one place a worker can see where the core came from.
_CHUNK_IMPORT = re.compile(r"""import\((["'])(https?://[^"')]+?\.js)\1\)""")
_CORE_FILE = re.compile(r"/core\.js$")

type FetchText = Callable[[str], str | None]


def pyscriptVersionFromUrl(url: str, fetchText: FetchText) -> str:
    """PyScript's version, found from the URL of any file of its core's folder (``.../dist/core.js``).

    A path naming the npm package (``/@pyscript/core@0.7.31/``, as jsDelivr and unpkg serve it) or a PyScript
    release (``/releases/2025.11.1/``, as pyscript.net serves it) gives the version without a request. Otherwise the
    ``package.json`` one folder up is fetched with ``fetchText`` (which returns ``None`` when it cannot): that is where
    it sits in the npm package, self-hosted or not. Returns :data:`UNKNOWN` when none of these tells.
    """
    from urllib.parse import urljoin, urlsplit  # here: urllib.parse takes 30-90 ms to import in a Pyodide worker

    path = urlsplit(url).path
    for pattern in (_NPM_PATH, _RELEASE_PATH):
        found = pattern.search(path)
        if found:
            return found.group(1)
    text = fetchText(urljoin(url, "../package.json"))
    if text is None:
        return UNKNOWN
    try:
        package = json.loads(text)
    except ValueError:
        return UNKNOWN
    if isinstance(package, dict) and package.get("name") == "@pyscript/core":
        version = package.get("version")
        if isinstance(version, str) and version:
            return version
    return UNKNOWN


def coreUrlFromWorkerSource(source: str) -> str | None:
    """The URL of a PyScript core chunk imported by a worker's own code, or ``None`` when it imports none."""
    found = _CHUNK_IMPORT.search(source)
    return found.group(2) if found else None


def _fetchText(url: str) -> str | None:
    # Synchronous on purpose: systemVersions is a plain Mapping, read without await. Workers may block; on the main
    # thread it is one small request, made once, only when someone reads PyScript's version.
    js = importBrowserModule("js")
    try:
        request = js.XMLHttpRequest.new()
        request.open("GET", url, False)
        request.send()
    except Exception:
        return None
    if not 200 <= int(request.status) < 300:
        return None
    return str(request.responseText)


def _coreUrlFromPage(document: Any, performance: Any) -> str | None:
    from urllib.parse import urlsplit  # here, as in pyscriptVersionFromUrl: only a report needs it

    for script in document.querySelectorAll('script[type="module"][src]'):
        src = str(script.src)
        if _CORE_FILE.search(urlsplit(src).path):
            return src
    # A page may import the core from inline module code; the resource timeline still lists the file it loaded.
    for entry in performance.getEntriesByType("resource"):
        name = str(entry.name)
        if _CORE_FILE.search(urlsplit(name).path):
            return name
    return None


def _coreUrl() -> str | None:
    js = importBrowserModule("js")
    if context() is Context.MAIN:
        return _coreUrlFromPage(js.document, js.performance)
    if str(js.location.href).startswith("blob:"):
        source = _fetchText(str(js.location.href))
        found = coreUrlFromWorkerSource(source) if source else None
        if found:
            return found
    # Only reachable with SharedArrayBuffer and without sync_main_only; there PyScript proxies the main window.
    window = getattr(importBrowserModule("pyscript"), "window", None)
    try:
        return _coreUrlFromPage(window.document, window.performance) if window is not None else None
    except Exception:
        return None


def _pyscriptVersion() -> str:
    if context() not in (Context.MAIN, Context.WORKER):
        return ABSENT
    try:
        url = _coreUrl()
    except Exception:
        return UNKNOWN
    return UNKNOWN if url is None else pyscriptVersionFromUrl(url, _fetchText)


def _pyodideVersion() -> str:
    if context() is Context.CPYTHON:
        return ABSENT
    return str(getattr(importBrowserModule("pyodide"), "__version__", UNKNOWN))


def _emscriptenVersion() -> str:
    info = getattr(sys, "_emscripten_info", None)
    if info is None:
        return ABSENT
    return ".".join(str(part) for part in info.emscripten_version)


_DETECTORS: dict[str, Callable[[], str]] = {
    "PyScript": _pyscriptVersion,
    "Pyodide": _pyodideVersion,
    "Python": lambda: sys.version.split()[0],  # platform.python_version's answer, without importing platform
    "Emscripten": _emscriptenVersion,
}


@functools.cache
def _version(component: str) -> str:
    return _DETECTORS[component]()


class _SystemVersions(Mapping[str, str]):
    """A read-only mapping that detects each version the first time it is read, then keeps it."""

    __slots__ = ()

    def __getitem__(self, component: str) -> str:
        if component not in _DETECTORS:
            raise KeyError(component)
        return _version(component)

    def __iter__(self) -> Iterator[str]:
        return iter(COMPONENTS)

    def __len__(self) -> int:
        return len(COMPONENTS)

    def __repr__(self) -> str:
        return repr(dict(self))


systemVersions: Mapping[str, str] = _SystemVersions()
"""The versions of ``"PyScript"``, ``"Pyodide"``, ``"Python"`` and ``"Emscripten"`` where this code runs.

A read-only mapping with these four keys in this order, detected at run time on the main thread and in each worker,
each the first time it is read. A part that is not there reads :data:`ABSENT` (PyScript, Pyodide and Emscripten in
plain CPython; PyScript in Pyodide without PyScript), a part whose version cannot be found :data:`UNKNOWN`.
PyScript reports no version of its own: it is read from the URL PyScript's core was loaded from, or from the
``package.json`` of the npm package it came from, which may cost one request to the server on the first read. It is
not a ``dict``: send ``dict(systemVersions)`` from a worker.

:meta hide-value:
"""


# --- the platform report ----------------------------------------------------------------------------------------


def _where() -> str:
    match context():
        case Context.CPYTHON:
            import platform  # here: a report in CPython needs it, a worker's start does not

            return f"{platform.python_implementation()} (no browser)"
        case Context.PYODIDE:
            return "Pyodide without PyScript"
        case Context.MAIN:
            return "PyScript main thread"
        case Context.WORKER:
            name = _workerName()
            return f"PyScript worker {name!r}" if name else "PyScript worker"


@functools.cache
def _workerName() -> str:
    # A PyScript worker's global scope has no name; its <script name=...> element is on the main thread, reachable
    # only through PyScript's window proxy (SharedArrayBuffer, not sync_main_only). Without it the name is unknown.
    try:
        script = importBrowserModule("polyscript").currentScript
        name = script.getAttribute("name") if script else None
    except Exception:
        return ""
    return str(name) if name else ""


def _yesNo(flag: bool) -> str:
    return "yes" if flag else "no"


def _browserGlobal(name: str) -> Any:
    """A global of the JavaScript side, or ``None`` outside a browser or when it is not defined there."""
    if context() is Context.CPYTHON:
        return None
    return getattr(importBrowserModule("js"), name, None)


def _cpuCount() -> str:
    navigator = _browserGlobal("navigator")
    count = getattr(navigator, "hardwareConcurrency", None) if navigator is not None else None
    if count is None:
        count = os.process_cpu_count()
    return UNKNOWN if count is None else str(int(count))


def _pthreads() -> str:
    info = getattr(sys, "_emscripten_info", None)
    if info is None:
        return "native threads (not WebAssembly)"
    return _yesNo(bool(info.pthreads))


def _sharedArrayBuffer() -> str:
    if context() is Context.CPYTHON:
        return ABSENT
    return "available" if _browserGlobal("SharedArrayBuffer") is not None else "unavailable"


def _crossOriginIsolated() -> str:
    if context() is Context.CPYTHON:
        return ABSENT
    isolated = _browserGlobal("crossOriginIsolated")
    return UNKNOWN if isolated is None else _yesNo(bool(isolated))


SYNC_INTERRUPTED = "interrupts a running sync method (KeyboardInterrupt in the worker)"
SYNC_RUNS_ON = "a running sync method runs to its end, its answer dropped (the page is not cross-origin isolated)"


def _syncCancellation() -> str:
    if context() is Context.CPYTHON:
        return ABSENT
    isolated = bool(_browserGlobal("crossOriginIsolated")) and _browserGlobal("SharedArrayBuffer") is not None
    return SYNC_INTERRUPTED if isolated else SYNC_RUNS_ON


def _beartype() -> str:
    try:
        import beartype
    except ImportError:
        return f"{ABSENT} (typechecked checks nothing)"
    return f"{getattr(beartype, '__version__', UNKNOWN)} (typechecked checks calls)"


def _workerlibVersion() -> str:
    return VERSION


def _report() -> tuple[str, ...]:
    return (
        f"workerlib: {_workerlibVersion()} in {_where()}",
        *(f"{component}: {systemVersions[component]}" for component in COMPONENTS),
        f"CPU count: {_cpuCount()}",
        f"pthreads: {_pthreads()}",
        f"SharedArrayBuffer: {_sharedArrayBuffer()}",
        f"crossOriginIsolated: {_crossOriginIsolated()}",
        f"sync cancellation: {_syncCancellation()}",
        f"dev mode: {'on' if sys.flags.dev_mode else 'off'}",
        f"assertions: {'enabled' if __debug__ else 'disabled'}",
        f"beartype: {_beartype()}",
    )


# --- logging ----------------------------------------------------------------------------------------------------

LOG_FORMAT = "%(asctime)s.%(msecs)03d %(name)s %(levelname)s%(where)s %(message)s"
"""The format of the lines :func:`enableLogging` prints; in a page ``where`` is ``[main]`` or ``[worker <name>]``."""

LOG_DATE_FORMAT = "%H:%M:%S"
"""The format of the time at the start of each line :func:`enableLogging` prints."""


class _ConsoleHandler(logging.Handler):
    """Writes records to the browser console, through the console method of their level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            console = importBrowserModule("js").console
            if record.levelno >= logging.ERROR:
                write = console.error
            elif record.levelno >= logging.WARNING:
                write = console.warn
            elif record.levelno >= logging.INFO:
                write = console.info
            else:
                write = console.debug
            write(self.format(record))
        except Exception:
            self.handleError(record)


class _Formatter(logging.Formatter):
    """:data:`LOG_FORMAT` with the place the record was logged in, so main and worker lines can be told apart."""

    def __init__(self, where: str) -> None:
        super().__init__(LOG_FORMAT, LOG_DATE_FORMAT)
        self.where = where

    def format(self, record: logging.LogRecord) -> str:
        record.where = self.where
        return super().format(record)


_installed: list[logging.Handler] = []


def _placeTag() -> str:
    match context():
        case Context.MAIN:
            return " [main]"
        case Context.WORKER:
            name = _workerName()
            return f" [worker {name}]" if name else " [worker]"
        case _:
            return ""


def enableLogging(level: int | str = logging.DEBUG, *, stream: TextIO | None = None) -> logging.Handler:
    """Print workerlib's log records from ``level`` (default ``DEBUG``) up, one line each; returns the new handler.

    workerlib logs to the ``workerlib`` logger (:data:`LOGGER_NAME`) and its children, which print nothing until
    this is called. It sets that logger's level to ``level`` and attaches one handler: in a browser (main thread or
    worker) it writes to the browser console with the console method of the record's level (``console.debug`` for
    DEBUG, ``info``, ``warn``, ``error``), elsewhere to ``stream`` (default ``sys.stderr``); a ``stream`` given in a
    browser is used there too. Lines follow :data:`LOG_FORMAT`, for example
    ``12:04:05.123 workerlib.client DEBUG [main] Calc.add() on worker 'calc': ...``.

    Each interpreter has its own logging: call it on the main thread and in each worker whose records you want.
    Calling it again replaces the handler it attached before, so there is only ever one.
    """
    disableLogging()
    _logger.setLevel(level)  # first: a level logging does not know raises before anything is attached
    handler: logging.Handler
    if stream is None and context() is not Context.CPYTHON:
        handler = _ConsoleHandler()
    else:
        handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(_Formatter(_placeTag()))
    _logger.addHandler(handler)
    _installed.append(handler)
    return handler


def disableLogging() -> None:
    """Undo :func:`enableLogging`: remove its handler and give the ``workerlib`` logger its default level back."""
    while _installed:
        _logger.removeHandler(_installed.pop())
    _logger.setLevel(logging.NOTSET)


# --- the report as a sequence ------------------------------------------------------------------------------


@functools.cache
def _lines() -> tuple[str, ...]:
    return _report()


class Diagnostics(Sequence[str]):
    """The type of :data:`diagnostics`: a read-only sequence of printable lines that also carries this module's names.

    Its lines are made the first time it is read, then kept. As in the original workerlib, ``from workerlib import
    diagnostics`` gives the lines (``print(*diagnostics, sep="\\n")``, ``"\\n".join(diagnostics)``, ``len``, indexing);
    the functions and constants of :mod:`workerlib.diagnosis` are its attributes too (``diagnostics.elapsedTime``,
    ``diagnostics.systemVersions``...), so code written for either spelling works.
    """

    __slots__ = ()

    # The names code once reached as ``workerlib.diagnostics.<name>``, when that was this module. Class attributes,
    # not a __getattr__, so that type checkers and dir() see them; functions stay plain (no self).
    ABSENT = ABSENT
    UNKNOWN = UNKNOWN
    LOGGER_NAME = LOGGER_NAME
    COMPONENTS = COMPONENTS
    LOG_FORMAT = LOG_FORMAT
    LOG_DATE_FORMAT = LOG_DATE_FORMAT
    SYNC_INTERRUPTED = SYNC_INTERRUPTED
    SYNC_RUNS_ON = SYNC_RUNS_ON
    systemVersions = systemVersions
    elapsedTime = staticmethod(elapsedTime)
    enableLogging = staticmethod(enableLogging)
    disableLogging = staticmethod(disableLogging)
    pyscriptVersionFromUrl = staticmethod(pyscriptVersionFromUrl)
    coreUrlFromWorkerSource = staticmethod(coreUrlFromWorkerSource)

    @property
    def diagnostics(self) -> Diagnostics:
        """This same report, so that ``workerlib.diagnostics.diagnostics`` (code written for the old module) works."""
        return self

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return _lines()[index]

    def __len__(self) -> int:
        return len(_lines())

    def __iter__(self) -> Iterator[str]:
        return iter(_lines())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_lines())

    def __repr__(self) -> str:
        return repr(list(self))

    def __str__(self) -> str:
        return "\n".join(self)


diagnostics: Diagnostics = Diagnostics()
"""Printable lines describing where this code runs, for bug reports; ``print(diagnostics)`` shows one per line.

``from workerlib import diagnostics`` gives this sequence. In order: ``workerlib: <version> in <where>`` (``PyScript
main thread``, ``PyScript worker '<name>'``, ``Pyodide without PyScript`` or ``CPython (no browser)``), one ``<part>:
<version>`` line per :data:`systemVersions` entry, ``CPU count`` (``navigator.hardwareConcurrency`` in a browser, the
usable CPUs in CPython), ``pthreads`` (``yes`` or ``no`` in WebAssembly, ``native threads (not WebAssembly)`` in
CPython), ``SharedArrayBuffer`` (``available`` or ``unavailable``) and ``crossOriginIsolated`` (``yes`` or ``no``),
both :data:`ABSENT` outside a browser, ``sync cancellation`` (what cancelling a call does to a sync method the worker
is running: :data:`SYNC_INTERRUPTED` where the page is cross-origin isolated, else :data:`SYNC_RUNS_ON`;
:data:`ABSENT` outside a browser), ``dev mode`` (``on`` or ``off``, ``sys.flags.dev_mode``), ``assertions``
(``enabled`` or ``disabled``, ``__debug__``) and ``beartype`` (its version, or :data:`ABSENT`: whether
:func:`~workerlib.typechecked` checks anything).

Made on the first read and kept: nothing in it changes while the interpreter runs. It is a read-only sequence, not a
``list``: send ``list(diagnostics)`` from a worker. It also has this module's names as attributes (see
:class:`Diagnostics`).

:meta hide-value:
"""
