"""Loops that run until SIGINT stops them, each inside ``try/except KeyboardInterrupt/finally``.

run.mjs loads this into Pyodide, sets an interrupt buffer and stores SIGINT (2) into it from another thread while one
loop runs; ``run(name)`` says which of the loop's handlers ran and which instructions of its ``try`` body have no
entry in the exception table. No third-party code is involved.
"""

import dis
import time
from types import CodeType
from typing import Any

seen: list[str] = []


def branchy() -> None:
    """The loop that loses its handlers on CPython 3.14 (Pyodide 314.x)."""
    n = 0
    try:
        while True:
            n += 1
            if n % 100_000 == 0:
                pass
    except KeyboardInterrupt:
        seen.append("except")
    finally:
        seen.append("finally")


def straight() -> None:
    """The same loop without the branch: keeps its handlers everywhere."""
    n = 0
    try:
        while True:
            n += 1
    except KeyboardInterrupt:
        seen.append("except")
    finally:
        seen.append("finally")


class Flag:
    stop = False


def condition(flag: Flag = Flag()) -> None:  # noqa: B008
    """A loop on a condition, the shape of CPython issue gh-130279: loses its handlers on CPython 3.13."""
    try:
        while not flag.stop:
            pass
    except KeyboardInterrupt:
        seen.append("except")
    finally:
        seen.append("finally")


def unprotectedJumps(code: CodeType) -> list[str]:
    """The backward jumps of the ``try`` body (where the eval loop checks for signals) that no exception-table entry
    covers: an exception raised at one leaves the frame without running its ``except`` or ``finally``."""
    entries: list[Any] = getattr(dis.Bytecode(code), "exception_entries", [])
    if not entries:
        return []
    first = min(entry.start for entry in entries)
    end = min(entry.target for entry in entries)  # the try body ends where the first handler starts
    return [
        f"{ins.offset} {ins.opname}"
        for ins in dis.get_instructions(code)
        if first <= ins.offset < end
        and ins.opname.startswith("JUMP_BACKWARD")
        and not any(entry.start <= ins.offset < entry.end for entry in entries)
    ]


def run(name: str) -> str:
    """Run one loop until the interrupt stops it; say what its handlers recorded and how it ended."""
    loop = globals()[name]
    seen.clear()
    started = time.perf_counter()
    try:
        loop()
        ended = "returned"
    except BaseException as error:
        ended = f"{type(error).__name__} escaped the function"
    took = time.perf_counter() - started
    holes = ", ".join(unprotectedJumps(loop.__code__)) or "none"
    return (
        f"{name:9} handlers ran: {', '.join(seen) or 'NONE':15} {ended:36} ({took:.1f} s); "
        f"backward jumps in try without a handler: {holes}"
    )
