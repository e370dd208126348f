"""Worker of the pools page: state given by broadcasts, calls main lets finish, CPU work that can be interrupted."""

import random
import time
from collections.abc import Awaitable, Callable

from workerlib import WorkerService

INSTANCE = f"{random.random():.12f}"
"""Tells the workers of a pool apart."""


class Crunch(WorkerService):
    """Each worker keeps the data a broadcast gave it, and counts the calls it started."""

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.started = 0
        self.interrupted = 0

    def load(self, data: bytes) -> int:
        self.data = data
        return len(data)

    def known(self) -> int | None:
        """How many bytes of broadcast data this worker holds (``None``: no broadcast reached it)."""
        return None if self.data is None else len(self.data)

    def readText(self, path: str) -> str:
        with open(path) as file:
            return file.read()

    def whoami(self) -> str:
        return INSTANCE

    def counts(self) -> dict[str, int]:
        return {"started": self.started, "interrupted": self.interrupted}

    async def gated(self, key: int, ask: Callable[[int], Awaitable[None]]) -> list[int | None]:
        """Start, then finish only when main's ``ask(key)`` returns: main decides the order calls end in."""
        self.started += 1
        await ask(key)
        return [key, self.known()]

    def double(self, x: int) -> int:
        if x < 0:
            raise ValueError(f"negative: {x}")
        return 2 * x

    def spin(self, seconds: float) -> int:
        """Busy for ``seconds`` in Python bytecode (no await): a cancelled call is interrupted here."""
        self.started += 1
        end = time.perf_counter() + seconds
        turns = 0
        try:
            while time.perf_counter() < end:
                turns += 1
        except KeyboardInterrupt:
            self.interrupted += 1
            raise
        return turns
