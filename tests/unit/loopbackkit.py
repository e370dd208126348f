"""A worker in this same thread: a server session and a client link joined by an in-process channel pair."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workerlib import WorkerService, protocol, server
from workerlib.client import Connection, Link, ServiceClient, clientClass
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


class LoopbackSpawner:
    """A pool's ``spawn`` in this thread: each "worker" is a session with a service table of its own (so its own
    service instance, its own state, as a real worker has), named worker-1, worker-2...; it records the workers it
    started and closed, and counts the messages the main thread sends each."""

    def __init__(self, service: type) -> None:
        self.service = service
        self.started: list[ServiceClient] = []
        self.closed: list[str] = []
        self.messages: dict[str, int] = {}

    async def __call__(self) -> ServiceClient:
        name = f"worker-{len(self.started) + 1}"
        mainEnd, workerEnd = loopbackPair(name)
        table = server.ServiceTable(WorkerService)
        table.addClass(self.service, WorkerService)
        server.Session(workerEnd, table=table)
        self.messages[name] = 0
        post = mainEnd._post

        def counted(batch: protocol.Batch) -> None:
            self.messages[name] += 1
            post(batch)

        mainEnd._post = counted  # type: ignore[method-assign]
        link = Link(name, None, mainEnd)

        def stop() -> None:
            self.closed.append(name)
            link.sever("was closed with the client that spawned it")

        client = clientClass(self.service, WorkerService)(Connection(link, onClose=stop))
        self.started.append(client)
        return client
