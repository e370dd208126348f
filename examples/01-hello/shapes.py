"""Value types both threads import: a dataclass crosses with its exact type because both sides know it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    x: float
    y: float
