"""Imported by main and by the workers of the failures page: an exception class and an adapter that can fail."""

from workerlib import adapter


class AppError(Exception):
    """An application error both sides can rebuild."""


class Fragile:
    """Crosses through an adapter whose encode fails for ``broken`` objects and whose decode fails on 'poison'."""

    def __init__(self, label: str, broken: bool = False) -> None:
        self.label = label
        self.broken = broken


@adapter(Fragile)
class FragileAdapter:
    @staticmethod
    def encode(fragile: Fragile) -> str:
        if fragile.broken:
            raise ValueError(f"cannot encode {fragile.label}")
        return fragile.label

    @staticmethod
    def decode(label: str) -> Fragile:
        if label == "poison":
            raise ValueError("refusing to decode poison")
        return Fragile(label)
