"""A worker of raw PyScript alone: the same functions as ``worker.py`` exports, without workerlib loaded at all.

The benchmark times raw calls here as well as beside workerlib, so a side effect of workerlib on PyScript's own calls
(in the worker they share) would show as a difference between the two.
"""

from typing import Any

from pyodide.ffi import JsProxy


def add(a: Any, b: Any) -> Any:
    return a + b


def echo(value: Any) -> Any:
    return value.to_py() if isinstance(value, JsProxy) else value


def wasmMemory() -> int:
    """Bytes of WebAssembly memory this worker's interpreter holds."""
    import pyodide_js  # type: ignore[import-not-found]  # only in Pyodide

    return int(pyodide_js._module.HEAP8.length)


__export__ = ["add", "echo", "wasmMemory"]
