"""The adapted class of the benchmark: imported by the page's main thread and by the worker, so both register it."""

from __future__ import annotations

from workerlib import adapter


class Point:
    """A plain class that cannot cross on its own: only the adapter below lets it through."""

    __slots__ = ("x", "y")

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"Point({self.x!r}, {self.y!r})"


@adapter(Point)
class PointAdapter:
    @staticmethod
    def encode(point: Point) -> tuple[float, float]:
        return (point.x, point.y)

    @staticmethod
    def decode(data: tuple[float, float]) -> Point:
        return Point(*data)
