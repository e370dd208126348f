"""A worker in this same thread: a server session and a client link joined by an in-process channel pair."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workerlib import server
from workerlib.client import Link
from workerlib.testing import loopbackPair


def loopbackLink(name: str = "loop", carries: tuple[type, ...] = ()) -> Link:
    """A link whose frames reach a :class:`workerlib.server.Session` serving ``server.table`` in this thread."""
    mainEnd, workerEnd = loopbackPair(name, carries)
    server.Session(workerEnd)
    return Link(name, None, mainEnd)


async def settle(condition: Callable[[], bool]) -> None:
    """Turn the event loop until ``condition`` holds (a loopback delivers in later turns); fail after many turns."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")
