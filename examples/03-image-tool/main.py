# mypy: disable-error-code="top-level-await"
"""Runs on the page's main thread: draws a picture, has the worker filter it, and draws what comes back.

On the way: pixels moved to the worker with ``transfer()``, a class of our own (``Picture``) crossing through its
adapter, an exception of our own raised in the worker and caught here, and a call stopped at its deadline. The work
is in ``main()``, awaited at the end: mypy checks ``await`` only inside a function (see the guide, "Type checking").
"""

import math
import time

import js
from picture import OutsideError, Picture
from worker import ImageTool, luminance

from workerlib import ServiceClient, elapsedTime, transfer

WIDTH, HEIGHT = 160, 120
CROP = (40, 20, 80, 80)  # left, top, width, height: the circle and a corner of the square
lines: list[str] = []


def show(text: str) -> None:
    """Print a line to the console and on the page."""
    print(text)
    lines.append(text)
    js.document.getElementById("output").textContent = "\n".join(lines)


def drawSource() -> None:
    """Paint the picture the tool works on into the canvas ``#source``: a gradient, a disc and a square."""
    # The page reads these pixels back (getImageData); saying so up front spares a console warning from Chromium.
    context = js.document.getElementById("source").getContext("2d", willReadFrequently=True)
    gradient = context.createLinearGradient(0, 0, WIDTH, HEIGHT)
    gradient.addColorStop(0, "#1e3a8a")
    gradient.addColorStop(1, "#f59e0b")
    context.fillStyle = gradient
    context.fillRect(0, 0, WIDTH, HEIGHT)
    context.fillStyle = "#dc2626"
    context.beginPath()
    context.arc(60, 55, 35, 0, 2 * math.pi)
    context.fill()
    context.fillStyle = "#16a34a"
    context.fillRect(95, 30, 50, 60)


def readSource() -> Picture:
    """The pixels of ``#source`` as a Picture (a copy: the canvas keeps its own)."""
    data = js.document.getElementById("source").getContext("2d").getImageData(0, 0, WIDTH, HEIGHT).data
    return Picture(WIDTH, HEIGHT, data.to_bytes())


def draw(picture: Picture, canvasId: str) -> None:
    """Draw ``picture`` into the canvas ``canvasId``, resized to fit it exactly."""
    canvas = js.document.getElementById(canvasId)
    canvas.width, canvas.height = picture.width, picture.height
    pixels = js.Uint8ClampedArray.new(len(picture.rgba))
    pixels.assign(picture.rgba)
    canvas.getContext("2d").putImageData(js.ImageData.new(pixels, picture.width, picture.height), 0, 0)


async def main() -> None:
    """Each step of the tour, then whether every result was right."""
    started = time.time()
    # The annotation is what mypy infers by itself; it is written out to show what a client is.
    tool: ServiceClient[ImageTool] = await ImageTool.connect()
    show(f"connected to worker {tool.workerName!r} in {elapsedTime(started)}")
    drawSource()
    source = readSource()

    # transfer(): the ImageData's pixel buffer moves to the worker instead of being copied; here it is left empty.
    image = js.document.getElementById("source").getContext("2d").getImageData(0, 0, WIDTH, HEIGHT)
    sent = image.data.byteLength
    started = time.time()
    grey = await tool.grayscale(transfer(image.data), WIDTH, HEIGHT)
    moved = image.data.byteLength
    show(f"grayscale: {sent} bytes of pixels moved to the worker with transfer(); here the buffer now holds {moved}")
    # The worker returned a Picture, our own class: it crossed through the adapter in picture.py.
    show(f"grayscale(...) = {grey!r}, a {type(grey).__module__}.{type(grey).__qualname__}, in {elapsedTime(started)}")
    draw(grey, "grey")

    cropped = await tool.crop(source, CROP)
    show(f"crop(source, {CROP}) = {cropped!r}")
    draw(cropped, "cropped")

    # An exception class of our own, raised in the worker, caught here as itself with its attributes.
    box = (120, 90, 80, 80)
    caught: OutsideError | None = None
    try:
        await tool.crop(source, box)
    except OutsideError as error:
        caught = error
        show(f"crop(source, {box}) raised OutsideError in the worker: {error} (box={error.box}, size={error.size})")

    # A deadline: the long sync filter is interrupted in the worker (this page is cross-origin isolated).
    started = time.time()
    timedOut = False
    try:
        await tool.oilPaint(source, 20).withTimeout(0.3)
    except TimeoutError as error:
        timedOut = True
        show(f"oilPaint(source, 20) with withTimeout(0.3): TimeoutError after {elapsedTime(started)}: {error}")
    started = time.time()
    painted = await tool.oilPaint(cropped, 2)
    show(f"and the worker serves the next call at once: oilPaint(cropped, 2) = {painted!r} in {elapsedTime(started)}")
    draw(painted, "painted")

    ok = (
        moved == 0
        and all(
            grey.pixel(x, y)[:3] == (luminance(*source.pixel(x, y)[:3]),) * 3
            for y in range(HEIGHT)
            for x in range(WIDTH)
        )
        and cropped.pixel(0, 0) == source.pixel(CROP[0], CROP[1])
        and (cropped.width, cropped.height) == CROP[2:]
        and caught is not None
        and (caught.box, caught.size) == (box, (WIDTH, HEIGHT))
        and timedOut
        and (painted.width, painted.height) == CROP[2:]
    )
    show("example finished: OK" if ok else "example finished: WRONG RESULTS")
    js.window.exampleStatus = "ok" if ok else "failed"


await main()  # noqa: F704 - PyScript runs main scripts with top-level await
