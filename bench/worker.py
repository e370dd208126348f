"""The benchmark's worker: the same two operations served twice, raw PyScript and workerlib, side by side.

Raw PyScript exports plain functions through ``__export__``; they receive ``JsProxy`` arguments and convert them with
``to_py()``, as any worker code that wants Python values must. workerlib serves :class:`Bench`, whose methods receive
and return Python values as they are.
"""

import io
import time
from collections.abc import Callable, Iterator
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

    def load(self, data: bytes) -> int:
        """Keep ``data`` (what a pool's broadcast gives every worker); its length."""
        self.data = data
        return len(data)

    def work(self, seconds: float) -> int:
        """CPU-bound: Python bytecode for ``seconds``, no await (what a pool spreads over workers)."""
        end = time.perf_counter() + seconds
        turns = 0
        while time.perf_counter() < end:
            turns += 1
        return turns

    def count(self, n: int) -> Iterator[int]:
        """A stream of ``n`` small items."""
        yield from range(n)

    async def callBack(self, n: int, callback: Callable[[int], Any]) -> int:
        """``n`` awaited callback round trips, one after the other."""
        total = 0
        for i in range(n):
            total += await callback(i)
        return total

    def wasmMemory(self) -> int:
        """Bytes of WebAssembly memory this worker's interpreter holds (what a worker costs, besides its thread)."""
        import pyodide_js  # type: ignore[import-not-found]  # only in Pyodide

        return int(pyodide_js._module.HEAP8.length)

    def profileStart(self) -> None:
        """Start profiling this worker's Python (``tools/callprofile.py``): every call served from now on counts."""
        global _profiler
        import cProfile  # here, as pstats below: the worker's start, which the bench times, need not import them

        _profiler = cProfile.Profile()
        _profiler.enable()

    def profileStop(self, calls: int) -> str:
        """Stop profiling; the profile as text, per call of ``calls``, sorted by own time."""
        return _report(_profiler, calls)


_profiler: Any = None


def _report(profiler: Any, calls: int) -> str:
    """A profile's text: total function calls per round trip, then the top entries by own time."""
    import pstats

    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(40)
    stats.print_callers("call_soon|_scheduleFlush|create_task")
    return f"{stats.total_calls / calls:.1f} Python calls per round trip\n" + out.getvalue()
