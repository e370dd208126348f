"""A request the main thread cancelled before the worker started it never starts (issue 21, item 7).

In a browser the mark travels through memory the page shares with the worker (``PortChannel``); here a loopback pair
shares a set, so the session's side of the promise is checked in plain CPython.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workerlib import WorkerService, protocol, server
from workerlib.client import Connection, Link, clientClass
from workerlib.protocol import Frame, FrameKind
from workerlib.testing import LoopbackChannel, loopbackPair

starts: list[str] = []
duringA: list[Callable[[], None]] = []


class Burner(WorkerService):
    def burn(self, name: str) -> str:
        starts.append(name)
        for hook in duringA if name == "a" else ():
            hook()  # the main thread cancelling the others while "a" runs
        return name


class MarkingChannel(LoopbackChannel):
    """A loopback end that shares cancel marks with its peer, as a ``PortChannel`` shares them in memory."""

    def __init__(self, name: str, marks: set[int]) -> None:
        super().__init__(name)
        self.marks = marks

    def interrupt(self, ident: int) -> None:
        self.marks.add(ident)

    def wasCancelled(self, ident: int) -> bool:
        if ident in self.marks:
            self.marks.discard(ident)
            return True
        return False


@pytest.fixture
def table() -> Iterator[server.ServiceTable]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Burner, WorkerService)
    starts.clear()
    duringA.clear()
    yield server.table
    server.table = saved


def markingLink() -> tuple[Link, server.Session, set[int]]:
    marks: set[int] = set()
    mainEnd, workerEnd = MarkingChannel("marking", marks), MarkingChannel("marking", marks)
    mainEnd.peer, workerEnd.peer = workerEnd, mainEnd
    return Link("marking", None, mainEnd), server.Session(workerEnd), marks


def test_calls_marked_cancelled_while_the_one_ahead_runs_never_start(table: server.ServiceTable) -> None:
    link, session, marks = markingLink()
    burner: Any = clientClass(Burner, WorkerService)(Connection(link))

    async def scenario() -> list[str]:
        calls = [asyncio.ensure_future(burner.burn(name)) for name in "abc"]

        # While "a" runs, the main thread gives up on the calls queued behind it (all three left in one message).
        def cancelTheOthers() -> None:
            for ident in sorted(link.pending)[1:]:
                link.channel.interrupt(ident)

        duringA.append(cancelTheOthers)
        assert await calls[0] == "a"
        for call in calls[1:]:
            call.cancel()
        await asyncio.gather(*calls[1:], return_exceptions=True)
        duringA.clear()
        assert await burner.burn("d") == "d"  # the worker serves on
        return starts

    assert asyncio.run(scenario()) == ["a", "d"]
    assert session.skipped == 2
    assert marks == set()  # every mark was taken: by the request it stopped, or by its CANCEL frame


def test_a_call_cancelled_in_the_message_that_carries_it_never_starts(table: server.ServiceTable) -> None:
    mainEnd, workerEnd = loopbackPair("same message")
    session = server.Session(workerEnd)
    replies: list[int] = []
    mainEnd.onFrames = lambda frames: replies.extend(frame.id for frame in frames)

    async def scenario() -> None:
        frames = []
        for ident, name in ((1, "b"), (2, "c")):
            request = protocol.Request(protocol.OP_CALL, protocol.ServiceTarget("Burner", __name__, "burn"), (name,))
            frames.append(Frame(FrameKind.REQUEST, ident, await protocol.encodeRequest(request)))
        mainEnd.sendAll([*frames, Frame(FrameKind.CANCEL, 1)])  # one message: b, c, and b's cancel
        for _ in range(100):
            if replies:
                return
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert starts == ["c"]
    assert replies == [2]
    assert session.skipped == 1
