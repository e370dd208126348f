"""Diagnostics: elapsed time formatting and the versions of the runtime's parts."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from types import MappingProxyType

from ._runtime import Context, context, importBrowserModule

ABSENT = "absent"
"""The version given for a component that is not present (PyScript and Pyodide in plain CPython)."""


def elapsedTime(startTime: float) -> str:
    """The time since ``startTime`` (a ``time.time()`` value): ``"12.3 ms"`` below one second, else ``"4.56 s"``."""
    seconds = max(time.time() - startTime, 0.0)
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _detectVersions() -> Mapping[str, str]:
    versions = {"PyScript": ABSENT, "Pyodide": ABSENT, "Python": sys.version.split()[0], "Emscripten": ABSENT}
    if context() is Context.CPYTHON:
        return MappingProxyType(versions)
    pyodide = importBrowserModule("pyodide")
    versions["Pyodide"] = str(getattr(pyodide, "__version__", "unknown"))
    emscripten = getattr(sys, "_emscripten_info", None)
    if emscripten is not None:
        versions["Emscripten"] = ".".join(str(part) for part in emscripten.emscripten_version)
    if context() in (Context.MAIN, Context.WORKER):
        versions["PyScript"] = _pyscriptVersion()
    return MappingProxyType(versions)


def _pyscriptVersion() -> str:
    pyscript = importBrowserModule("pyscript")
    version = getattr(pyscript, "version", None) or getattr(pyscript, "__version__", None)
    return str(version) if version else "unknown"


systemVersions: Mapping[str, str] = _detectVersions()
"""Versions of PyScript, Pyodide, Python and Emscripten detected at import; ``"absent"`` for parts not present."""
