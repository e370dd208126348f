"""Worker of the cancelling page: sync methods that spin until cancelled, and what they recorded."""

import sys
import time
from collections.abc import Callable
from typing import Any

from workerlib import WorkerService

record: list[str] = []
"""What the except and finally blocks of the interrupted methods ran."""
starts: list[str] = []
"""Every call of burn/burnItem that started, in order."""


class Stopper(WorkerService):
    def branchy(self, started: Callable[[], Any]) -> int:
        """The loop CPython 3.14 compiles with a backward jump its exception table does not cover."""
        n = 0
        try:
            started()
            while True:
                n += 1
                if n % 100_000 == 0:
                    pass
        except KeyboardInterrupt:
            record.append("except")
            raise
        finally:
            record.append("finally")

    def condition(self, started: Callable[[], Any]) -> None:
        """The loop CPython 3.13 compiles with a backward jump its exception table does not cover (gh-130279)."""
        try:
            started()
            while not self.stop:
                pass
        except KeyboardInterrupt:
            record.append("except")
            raise
        finally:
            record.append("finally")

    stop = False

    def straight(self, started: Callable[[], Any]) -> int:
        n = 0
        try:
            started()
            while True:
                n += 1
        except KeyboardInterrupt:
            record.append("except")
            raise
        finally:
            record.append("finally")

    def takeRecord(self) -> list[str]:
        taken = record[:]
        record.clear()
        return taken

    def burn(self, name: str, seconds: float, started: Callable[[], Any] | None = None) -> str:
        starts.append(name)
        if started is not None:
            started()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            pass
        return name

    def burnItem(self, item: tuple[int, Callable[[int], Any]]) -> int:
        index, started = item
        starts.append(f"item {index}")
        started(index)
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            pass
        return index

    def takeStarts(self) -> list[str]:
        taken = starts[:]
        starts.clear()
        return taken

    def claimTool(self) -> None:
        """Monitoring of the page's own: tool id 4, counting function starts."""
        monitoring = sys.monitoring
        monitoring.use_tool_id(4, "the page's own tool")
        monitoring.register_callback(4, monitoring.events.PY_START, lambda code, offset: None)
        monitoring.set_events(4, monitoring.events.PY_START)

    def tools(self) -> dict[str, Any]:
        """The monitoring tool ids in use, and the events of the page's own tool."""
        monitoring = sys.monitoring
        return {
            "ids": [monitoring.get_tool(tool) for tool in range(6)],
            "ownEvents": monitoring.get_events(4) if monitoring.get_tool(4) else None,
            "pyStart": monitoring.events.PY_START,
        }

    def releaseTool(self) -> None:
        sys.monitoring.set_events(4, 0)
        sys.monitoring.free_tool_id(4)
