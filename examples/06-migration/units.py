"""An existing module with a class of its own, and the encoder and decoder its users wrote for the original
workerlib's ``[adapters]`` section. Nothing in it changed for this release: ``registrations.py`` registers the pair.
"""


class Length:
    """A length in metres. A plain class: without an adapter it cannot cross to or from a worker."""

    def __init__(self, metres: float) -> None:
        self.metres = metres

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Length) and other.metres == self.metres

    def __repr__(self) -> str:
        return f"Length({self.metres:g} m)"


def lengthEncoder(length: Length) -> float:
    """What a ``Length`` crosses as: its metres, a plain float."""
    return length.metres


def lengthDecoder(metres: float) -> Length:
    """A ``Length`` again, from what ``lengthEncoder`` made on the other side."""
    return Length(metres)


def longest(lengths: list[Length]) -> Length:
    """The longest of ``lengths``."""
    return max(lengths, key=lambda length: length.metres)


def total(lengths: list[Length]) -> Length:
    """All of ``lengths`` laid end to end."""
    return Length(sum(length.metres for length in lengths))
