"""A worker in this same thread: a server session and a client link joined by an in-process channel pair."""

from __future__ import annotations

from workerlib import server
from workerlib.client import Link
from workerlib.transport import loopbackPair


def loopbackLink(name: str = "loop", carries: tuple[type, ...] = ()) -> Link:
    """A link whose frames reach a :class:`workerlib.server.Session` serving ``server.table`` in this thread."""
    mainEnd, workerEnd = loopbackPair(name, carries)
    server.Session(workerEnd)
    return Link(name, None, mainEnd)
