"""Runs in the worker named "imaging": pixel work in plain Python, off the page's main thread.

The main thread imports this file too, for the class: there, nothing is served.
"""

from picture import OutsideError, Picture, PictureError
from pyodide.ffi import JsProxy

from workerlib import WorkerService


def luminance(red: int, green: int, blue: int) -> int:
    """How bright a colour looks, 0 to 255 (ITU-R BT.601 weights, rounded)."""
    return (299 * red + 587 * green + 114 * blue + 500) // 1000


class ImageTool(WorkerService):
    """Filters for RGBA pictures."""

    def grayscale(self, pixels: JsProxy, width: int, height: int) -> Picture:
        """The grey version of ``width`` by ``height`` RGBA ``pixels``: a JavaScript Uint8ClampedArray, such as an
        ``ImageData``'s ``data``, which the page moves here with ``transfer()`` rather than copying it."""
        rgba = bytearray(pixels.to_bytes())
        if len(rgba) != width * height * 4:
            raise PictureError(f"{len(rgba)} bytes are not {width}x{height} RGBA pixels")
        for start in range(0, len(rgba), 4):
            grey = luminance(rgba[start], rgba[start + 1], rgba[start + 2])
            rgba[start : start + 3] = bytes((grey, grey, grey))
        return Picture(width, height, bytes(rgba))

    def crop(self, picture: Picture, box: tuple[int, int, int, int]) -> Picture:
        """The part of ``picture`` inside ``box``: (left, top, width, height). ``OutsideError`` when it sticks out."""
        left, top, width, height = box
        if width < 1 or height < 1 or left < 0 or top < 0:
            raise OutsideError(box, (picture.width, picture.height))
        if left + width > picture.width or top + height > picture.height:
            raise OutsideError(box, (picture.width, picture.height))
        rows = (
            picture.rgba[((top + row) * picture.width + left) * 4 : ((top + row) * picture.width + left + width) * 4]
            for row in range(height)
        )
        return Picture(width, height, b"".join(rows))

    def oilPaint(self, picture: Picture, radius: int) -> Picture:
        """A painted look: each pixel takes the most common of eight grey levels within ``radius`` of it.

        Seconds of work for a big ``radius``, in a sync method: only the interrupt a timed-out call sends stops it.
        """
        levels = [
            luminance(*picture.pixel(x, y)[:3]) // 32 for y in range(picture.height) for x in range(picture.width)
        ]
        out = bytearray(picture.rgba)
        for y in range(picture.height):
            for x in range(picture.width):
                counts = [0] * 8
                for dy in range(max(y - radius, 0), min(y + radius + 1, picture.height)):
                    row = dy * picture.width
                    for dx in range(max(x - radius, 0), min(x + radius + 1, picture.width)):
                        counts[levels[row + dx]] += 1
                level = counts.index(max(counts))
                out[(y * picture.width + x) * 4 : (y * picture.width + x) * 4 + 3] = bytes([level * 32 + 16] * 3)
        return Picture(picture.width, picture.height, bytes(out))
