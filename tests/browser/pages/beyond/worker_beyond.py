"""Worker of the beyond page (and of its pools): streams, callbacks, cancellation. Main imports it for ``Jobs``."""

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from workerlib import CallbackExpiredError, WorkerService

history: list[str] = []
"""What this worker did, in order; main reads it through ``Jobs.history``."""
produced = 0
kept: Any = None
INSTANCE = f"{random.random():.12f}"
"""Tells the workers of a pool apart."""


def spin(seconds: float) -> int:
    """Keep the CPU busy in Python bytecode for ``seconds``: no await, no sleep."""
    end = time.perf_counter() + seconds
    turns = 0
    while time.perf_counter() < end:
        turns += 1
    return turns


class Jobs(WorkerService):
    """Long jobs: generators, methods that call back, methods that run until cancelled."""

    def history(self) -> list[str]:
        return list(history)

    def clearHistory(self) -> None:
        history.clear()

    def ping(self) -> str:
        return "pong"

    def whoami(self) -> str:
        return INSTANCE

    async def ticks(self, n: int, delay: float) -> AsyncIterator[dict[str, int]]:
        try:
            for i in range(n):
                await asyncio.sleep(delay)
                yield {"tick": i}
        finally:
            history.append("ticks closed")

    def crunchItems(self, n: int, seconds: float) -> Iterator[int]:
        try:
            for i in range(n):
                spin(seconds)
                yield i
        finally:
            history.append("crunchItems closed")

    def produce(self, n: int) -> Iterator[int]:
        global produced
        produced = 0
        try:
            for i in range(n):
                produced += 1
                yield i
        finally:
            history.append("produce closed")

    def producedCount(self) -> int:
        return produced

    def failing(self) -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the generator broke")

    async def silentAfterOne(self) -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(3600)
            yield 2
        finally:
            history.append("silentAfterOne closed")

    def crunch(self, steps: int, report: Callable[[int], Any]) -> str:
        for step in range(steps):
            spin(0.002)
            report(step)  # fire-and-forget, from a sync loop that never yields
        return "crunched"

    async def ask(self, question: str, answer: Callable[[str], Any]) -> str:
        return f"answer: {await answer(question)}"

    async def askAll(self, options: dict[str, Any]) -> list[Any]:
        return [await options["first"](-1), await options["then"][0](3)]

    async def askFailing(self, answer: Callable[[], Any]) -> dict[str, Any]:
        try:
            await answer()
        except Exception as error:
            return {"raised": type(error).__name__, "message": str(error)}
        return {"raised": None}

    def keep(self, callback: Callable[[str], Any]) -> None:
        global kept
        kept = callback

    def callKept(self) -> dict[str, Any]:
        try:
            kept("late")
        except CallbackExpiredError as error:
            return {"type": type(error).__name__, "message": str(error)}
        return {"type": None}

    async def waitForever(self) -> None:
        history.append("waitForever started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            history.append("waitForever cancelled")
            raise

    def spinFor(self, seconds: float, started: Callable[[], Any] | None = None) -> int:
        if started is not None:
            started()
        try:
            return spin(seconds)
        except KeyboardInterrupt:
            history.append("spinFor interrupted")
            raise

    async def hold(self, started: Callable[[], Any]) -> None:
        started()
        await asyncio.sleep(3600)

    def square(self, x: int) -> int:
        return x * x

    def work(self, seconds: float) -> str:
        spin(seconds)
        return INSTANCE
