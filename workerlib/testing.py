"""Test doubles for code that uses workerlib, in plain CPython: no browser, no worker, no PyScript.

As ``trio.testing`` ships memory streams, this module ships workerlib's own loopback: two ends of a channel in one
thread (:func:`loopbackPair`), through which a real :class:`~workerlib.server.Session` serves real clients. A message
reaches the other end in a later turn of the event loop, in the same batch layout as in a browser, so what is tested
is the code that runs there. :func:`loopbackClient` wires it all up for one service class::

    from workerlib.testing import loopbackClient

    async def test_add() -> None:
        calculator = loopbackClient(Calculator)
        assert await calculator.add(1, 2) == 3

workerlib's own unit tests use it the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import codec, protocol
from .channel import Channel
from .client import Connection, Link, clientClass
from .ports import CollectAttached
from .protocol import Frame
from .server import ServiceTable, Session
from .service import WorkerService

__all__ = ["LoopbackChannel", "loopbackClient", "loopbackPair"]


class LoopbackChannel(Channel):
    """One end of an in-process pair: a message reaches the other end in a later turn of the event loop.

    Batches go through the same layout as in a browser. Objects of the ``carries`` types travel beside the payload by
    reference, the way JavaScript objects do on a :class:`PortChannel`.
    """

    def __init__(self, name: str, carries: tuple[type, ...] = ()) -> None:
        super().__init__(name)
        self.peer: LoopbackChannel | None = None
        self.carries = carries

    def attachments(self) -> codec.Attachments | None:
        return CollectAttached(lambda obj: isinstance(obj, self.carries)) if self.carries else None

    def send(self, frame: Frame) -> None:
        frame.buffers = [bytes(buffer) for buffer in frame.buffers]  # copied when sent, as a PortChannel does
        super().send(frame)

    def _post(self, batch: protocol.Batch) -> None:
        peer = self.peer
        if peer is None or peer.closed:
            return
        separate = [bytes(part) for part in batch.separate]
        asyncio.get_event_loop().call_soon(peer._receive, batch.data, separate, list(batch.attached))


def loopbackPair(name: str = "loopback", carries: tuple[type, ...] = ()) -> tuple[LoopbackChannel, LoopbackChannel]:
    """Two connected channel ends in this thread: ``(main end, worker end)``."""
    main, worker = LoopbackChannel(name, carries), LoopbackChannel(name, carries)
    main.peer, worker.peer = worker, main
    return main, worker


def loopbackClient(
    service: type[WorkerService],
    *,
    name: str = "loopback",
    carries: tuple[type, ...] = (),
    timeout: float | None = None,
) -> Any:
    """A client of ``service``, served in this thread by a :class:`~workerlib.server.Session` of its own (a service
    table holding ``service`` alone, its instance made on the first call), over a :func:`loopbackPair`.

    Call it inside a running event loop's task, or before ``asyncio.run``: the client's calls are coroutines.
    ``carries``: types that travel beside payloads by reference, as JavaScript objects do in a browser.
    """
    table = ServiceTable(WorkerService)
    table.addClass(service, WorkerService)
    mainEnd, workerEnd = loopbackPair(name, carries)
    Session(workerEnd, table=table)
    return clientClass(service, WorkerService)(Connection(Link(name, None, mainEnd), timeout=timeout))
