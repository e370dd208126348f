"""Worker 'faulty': every way a call can fail, and probes of what the worker holds."""

import asyncio
import time

import js
import pyodide_js
from shared_failures import AppError, Fragile, probeHeap

from workerlib import WorkerService

pyodide_js._module.enable_pyproxy_allocation_tracing()


class Faulty(WorkerService):
    def __init__(self) -> None:
        self.served = 0

    def ping(self) -> int:
        self.served += 1
        return self.served

    def raiseBuiltin(self, message: str) -> None:
        raise ValueError(message, 42)

    def raiseShared(self, code: int) -> None:
        raise AppError(f"application failed with code {code}", code)

    def raiseLocal(self) -> None:
        class LocalOnly(Exception):
            pass

        raise LocalOnly("only the worker knows this class")

    def raiseChained(self) -> None:
        try:
            {}["missing"]
        except KeyError as error:
            raise AppError("lookup failed") from error

    def raiseImplicit(self) -> None:
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            raise RuntimeError("while handling a division")  # noqa: B904 - the implicit chain is the point

    def exit(self) -> None:
        raise SystemExit(3)

    def fragile(self, label: str, broken: bool) -> Fragile:
        return Fragile(label, broken)

    def takeFragile(self, fragile: Fragile) -> str:
        return fragile.label

    async def sleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    def block(self, seconds: float) -> float:
        # Holds the worker's thread, as a long computation would.
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return seconds

    def closeWorker(self) -> None:
        js.setTimeout(js.close, 50)  # the worker ends itself once this reply is on its way

    def probe(self) -> dict:
        return probeHeap()
