"""Worker side of the ending page: a sync method that never returns, and the name of the lock the worker holds."""

from collections.abc import Callable
from typing import Any

from workerlib import WorkerService, workers


class Endless(WorkerService):
    """Work that only ending the worker stops."""

    def spin(self, started: Callable[[], Any]) -> None:
        started()  # a callback leaves at once, even from a sync method that never yields
        turns = 0
        while True:
            turns += 1

    def ping(self, text: str) -> str:
        return f"pong {text}"

    async def lifeLock(self) -> str | None:
        # Held until the worker's thread ends: the browser frees it then, and only then.
        return await workers.lifeLock()
