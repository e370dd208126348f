"""Worker 'calc': implements the shared Calculator interface, serves a second service and exports a function."""

import asyncio

from shared_calc import Calculator

from workerlib import WorkerService, export


class CalculatorImpl(Calculator):
    def __init__(self) -> None:
        self.calls = 0

    def add(self, a: int, b: int) -> int:
        self.calls += 1
        return a + b

    async def slowSquare(self, n: int, delay: float = 0.0) -> int:
        self.calls += 1
        await asyncio.sleep(delay)
        return n * n

    def params(self, a, b=20, *args, k, flag=False, **kwargs) -> dict:
        self.calls += 1
        return {"a": a, "b": b, "args": args, "k": k, "flag": flag, "kwargs": kwargs}

    def whoami(self) -> str:
        return type(self).__qualname__

    def callCount(self) -> int:
        return self.calls

    def _secret(self) -> str:
        return "must not be reachable"


class Inventory(WorkerService):
    """A second service in the same worker."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def put(self, name: str, count: int = 1) -> int:
        self.items[name] = self.items.get(name, 0) + count
        return self.items[name]


def double(x):
    """A plain function, exported the seed library's way."""
    return 2 * x


export(double)
