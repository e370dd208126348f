"""Runs in the worker named "orders": a service with state (the book it loads), an async method and a stream."""

import asyncio
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from orders import Order, Summary

from workerlib import WorkerService

CUSTOMERS = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret")


class OrderBook(WorkerService):
    """Orders kept in the worker: loaded once, then filtered and summed there, off the main thread."""

    def __init__(self) -> None:
        self.orders: list[Order] = []

    async def load(self, count: int, seed: int) -> int:
        """Make ``count`` orders (the same ones for the same ``seed``), giving the worker's loop a turn every 100;
        returns how many the book holds."""
        pick = random.Random(seed)
        first = date(2026, 1, 1)
        for number in range(len(self.orders) + 1, len(self.orders) + count + 1):
            cents = pick.randrange(100, 50_000)
            placed = first + timedelta(days=pick.randrange(365))
            self.orders.append(Order(number, pick.choice(CUSTOMERS), Decimal(cents).scaleb(-2), placed))
            if number % 100 == 0:
                await asyncio.sleep(0)  # an async method may wait: other calls get in meanwhile
        return len(self.orders)

    def largerThan(self, minimum: Decimal) -> Iterator[Order]:
        """The orders of more than ``minimum``, one at a time, as they are found."""
        for order in self.orders:
            if order.amount > minimum:
                yield order

    def summary(self) -> Summary:
        """Count, customers, total and the largest order of the book."""
        largest = max(self.orders, key=lambda order: order.amount, default=None)
        total = sum((order.amount for order in self.orders), Decimal(0))
        return Summary(len(self.orders), len({order.customer for order in self.orders}), total, largest)
