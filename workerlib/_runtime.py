"""Where this code runs: plain CPython, bare Pyodide, or PyScript's main thread or a worker.

Decided once, here, so no other module needs ``if RUNNING_IN_WORKER`` branches or imports browser-only modules
(``js``, ``pyodide``, ``pyscript``) at import time. Plain CPython can import every workerlib module, which Sphinx
autodoc and the unit tests rely on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from enum import Enum
from functools import cache
from types import ModuleType
from typing import Any


class Context(Enum):
    """The kind of interpreter workerlib finds itself in."""

    CPYTHON = "cpython"
    """Plain CPython (or any non-Emscripten Python): no browser, no workers."""
    PYODIDE = "pyodide"
    """Pyodide without PyScript, as in Node.js or pytest-pyodide."""
    MAIN = "main"
    """PyScript's main thread."""
    WORKER = "worker"
    """A PyScript worker."""


def isEmscripten() -> bool:
    """Whether this interpreter is a WebAssembly build (Pyodide) rather than a native CPython."""
    return sys.platform == "emscripten"


@cache
def context() -> Context:
    """Detect the running context; the answer cannot change during a process, so it is computed once."""
    if not isEmscripten():
        return Context.CPYTHON
    try:
        pyscript = importBrowserModule("pyscript")
    except ImportError:
        return Context.PYODIDE
    return Context.WORKER if getattr(pyscript, "RUNNING_IN_WORKER", False) else Context.MAIN


def importBrowserModule(name: str) -> ModuleType:
    """Import a module that only exists inside Pyodide, with an error that says so when it is missing."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError as error:
        raise ImportError(
            f"workerlib needs the {name!r} module, which only exists inside Pyodide/PyScript "
            f"(running in {sys.implementation.name} on {sys.platform})"
        ) from error


@cache
def clock() -> Callable[[], float]:
    """A wall clock in milliseconds that main thread and workers share, for per-call timing across threads.

    In a browser each thread's ``performance.now()`` counts from its own ``timeOrigin``; adding the origin gives one
    time line at sub-millisecond resolution. Reading it through the JavaScript bridge costs a call into JavaScript, so
    it is read once, to set ``time.perf_counter()`` (Emscripten's monotonic clock, ``performance.now()`` underneath,
    read without leaving WebAssembly) on that time line. Elsewhere ``time.time()`` is the shared clock.
    """
    if not isEmscripten():
        return lambda: time.time() * 1000.0
    performance = importBrowserModule("js").performance
    offset = float(performance.timeOrigin) + float(performance.now()) - time.perf_counter() * 1000.0
    counter = time.perf_counter
    return lambda: offset + counter() * 1000.0


def newFuture() -> asyncio.Future[Any]:
    """A future of the running loop, made directly: Pyodide's ``loop.create_future()`` gives each future a done
    callback that takes a turn of the browser's event loop when the future settles (20 us, measured), every call."""
    return asyncio.Future(loop=asyncio.get_running_loop())
