"""What both threads import: the Picture class with its adapter, and the tool's own exceptions.

A Picture is a plain class, which workerlib cannot send as it is (only dataclasses, named tuples, enums, exceptions
and standard values cross without help). The adapter below says how: as its size and its bytes. Registering it in
this module, which both the page and the worker import, registers it on both sides.
"""

from workerlib import adapter


class Picture:
    """An RGBA image: ``width`` by ``height`` pixels, four bytes each, row after row."""

    __slots__ = ("height", "rgba", "width")

    def __init__(self, width: int, height: int, rgba: bytes) -> None:
        if width < 1 or height < 1 or len(rgba) != width * height * 4:
            raise ValueError(f"{width}x{height} RGBA pixels take {width * height * 4} bytes, got {len(rgba)}")
        self.width = width
        self.height = height
        self.rgba = bytes(rgba)

    def pixel(self, x: int, y: int) -> tuple[int, int, int, int]:
        """The red, green, blue and alpha of the pixel at column ``x``, row ``y``."""
        start = (y * self.width + x) * 4
        red, green, blue, alpha = self.rgba[start : start + 4]
        return red, green, blue, alpha

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Picture):
            return NotImplemented
        return (self.width, self.height, self.rgba) == (other.width, other.height, other.rgba)

    def __hash__(self) -> int:
        return hash((self.width, self.height, self.rgba))

    def __repr__(self) -> str:
        return f"<Picture {self.width}x{self.height}>"


@adapter(Picture)
class PictureAdapter:
    """A Picture crosses as ``(width, height, rgba)``: an int, an int and bytes, which cross natively."""

    @staticmethod
    def encode(picture: Picture) -> tuple[int, int, bytes]:
        return (picture.width, picture.height, picture.rgba)

    @staticmethod
    def decode(data: tuple[int, int, bytes]) -> Picture:
        return Picture(*data)


class PictureError(Exception):
    """What the image tool raises for a request it cannot do."""


class OutsideError(PictureError):
    """A crop box that does not lie inside the picture; it says which box and which picture size.

    Raised in the worker and caught as this very class on the page: both import this module, so the exception is
    rebuilt with its attributes there.
    """

    def __init__(self, box: tuple[int, int, int, int], size: tuple[int, int]) -> None:
        super().__init__(f"the box {box} (left, top, width, height) is not inside the {size[0]}x{size[1]} picture")
        self.box = box
        self.size = size
