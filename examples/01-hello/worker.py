"""Runs in the worker named "calculator". Defining the service class is all it takes to serve it.

The main thread imports this file too, for the class: there, nothing is served.
"""

import asyncio
import math

from shapes import Point

from workerlib import WorkerService


class Calculator(WorkerService):
    """Arithmetic, done off the main thread."""

    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    async def slowSquare(self, n: int, delay: float = 0.01) -> int:
        """Square ``n`` after waiting ``delay`` seconds, without blocking other calls."""
        await asyncio.sleep(delay)
        return n * n

    def stats(self, values: list[float]) -> dict[str, float]:
        """Mean and standard deviation of ``values``."""
        mean = sum(values) / len(values)
        return {"mean": mean, "stdev": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))}

    def centroid(self, points: tuple[Point, ...]) -> Point:
        """The centre of a set of points: dataclasses and tuples cross as they are."""
        return Point(sum(p.x for p in points) / len(points), sum(p.y for p in points) / len(points))
