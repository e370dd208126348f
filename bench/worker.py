"""The benchmark's worker: the same two operations served twice, raw PyScript and workerlib, side by side.

Raw PyScript exports plain functions through ``__export__``; they receive ``JsProxy`` arguments and convert them with
``to_py()``, as any worker code that wants Python values must. workerlib serves :class:`Bench`, whose methods receive
and return Python values as they are.
"""

from typing import Any

import points  # noqa: F401 - registers the Point adapter in the worker
from pyodide.ffi import JsProxy

from workerlib import WorkerService, transfer


def _toPy(value: Any) -> Any:
    return value.to_py() if isinstance(value, JsProxy) else value


def add(a: Any, b: Any) -> Any:
    return a + b


def echo(value: Any) -> Any:
    return _toPy(value)


def echoBuffer(buffer: Any) -> Any:
    return buffer  # a JavaScript ArrayBuffer, handed back as it is


__export__ = ["add", "echo", "echoBuffer"]


class Bench(WorkerService):
    """What the main thread calls through workerlib."""

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, value: Any) -> Any:
        return value

    def echoBuffer(self, buffer: Any) -> Any:
        return transfer(buffer)  # moved back: the worker keeps no copy
