"""workerlib.testing: the loopback test double users get, serving a real Session in this thread."""

from __future__ import annotations

import asyncio

import pytest

from workerlib import WorkerService
from workerlib.testing import loopbackClient


class Calculator(WorkerService):
    def __init__(self) -> None:
        self.calls = 0

    def add(self, a: int, b: int) -> int:
        self.calls += 1
        return a + b

    async def slowSquare(self, n: int) -> int:
        await asyncio.sleep(0)
        return n * n

    def divide(self, a: int, b: int) -> float:
        return a / b

    def calls_(self) -> int:
        return self.calls


def test_a_loopback_client_calls_a_service_served_in_this_thread() -> None:
    async def main() -> None:
        calculator = loopbackClient(Calculator)
        assert await calculator.add(1, 2) == 3
        assert await calculator.slowSquare(4) == 16
        assert await calculator.map(Calculator.add, [1, 2], [10, 20]) == [11, 22]
        assert await calculator.calls_() == 3  # one instance serves every call of the session
        with pytest.raises(ZeroDivisionError):
            await calculator.divide(1, 0)
        assert await calculator.add(2, 2) == 4  # and a failed call leaves it serving

    asyncio.run(main())


def test_each_loopback_client_has_a_session_and_a_service_instance_of_its_own() -> None:
    async def main() -> None:
        first, second = loopbackClient(Calculator), loopbackClient(Calculator)
        await first.add(1, 1)
        assert await first.calls_() == 1
        assert await second.calls_() == 0

    asyncio.run(main())
