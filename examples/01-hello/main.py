# mypy: disable-error-code="top-level-await"
"""Runs on the page's main thread: connects to the worker's Calculator and calls it like a local object.

The work is in ``main()``, awaited at the end: PyScript allows ``await`` at a main script's top level, but mypy only
checks it inside a function (see the guide, "Type checking"). The line above lets the last line's ``await`` pass.
"""

import asyncio
import inspect
import time

import js
from shapes import Point
from worker import Calculator

from workerlib import ServiceClient, elapsedTime, systemVersions

lines: list[str] = []


def show(text: str) -> None:
    """Print a line to the console and on the page."""
    print(text)
    lines.append(text)
    js.document.getElementById("output").textContent = "\n".join(lines)


async def main() -> None:
    """Connect, call, and report on the page whether every result was right."""
    started = time.time()
    # The annotation is what mypy infers by itself; it is written out to show what a client is.
    calculator: ServiceClient[Calculator] = await Calculator.connect()
    show(f"connected to worker {calculator.workerName!r} in {elapsedTime(started)}")
    show(f"signature kept: calculator.add{inspect.signature(calculator.add)}")

    show("running on " + ", ".join(f"{part} {version}" for part, version in systemVersions.items()))
    call = calculator.add(1, 2)
    show(f"add(1, 2) = {await call}, answered in {call.timing}")

    try:
        await calculator.slowSquare(3).withTimeout(0.001)
    except TimeoutError as error:
        show(f"a call past its deadline: TimeoutError: {error}")
    show(f"stats([1, 2, 3, 4]) = {await calculator.stats([1.0, 2.0, 3.0, 4.0])}")
    centre = await calculator.centroid((Point(0, 0), Point(4, 0), Point(4, 2)))
    show(f"centroid(...) = {centre!r} (type {type(centre).__module__}.{type(centre).__qualname__})")

    try:
        # A mistake on purpose, which mypy reports too: the client checks the arguments before anything is sent.
        calculator.add(1)  # type: ignore[call-arg]
    except TypeError as error:
        show(f"add(1) fails before anything is sent: TypeError: {error}")

    started = time.time()
    for i in range(100):
        await calculator.add(i, i)
    show(f"100 sequential calls: {elapsedTime(started)}")

    started = time.time()
    squares = await asyncio.gather(*(calculator.slowSquare(n) for n in range(100)))
    show(f"100 concurrent slowSquare calls (10 ms each): {elapsedTime(started)}, sum {sum(squares)}")

    ok = squares == [n * n for n in range(100)] and centre == Point(8 / 3, 2 / 3)
    show("example finished: OK" if ok else "example finished: WRONG RESULTS")
    js.window.exampleStatus = "ok" if ok else "failed"


await main()  # noqa: F704 - PyScript runs main scripts with top-level await
