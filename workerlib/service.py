"""``WorkerService``: subclass it in a worker, ``await Service.connect()`` on the main thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import client, server, transport
from ._runtime import Context, context

RESERVED_NAMES = frozenset({"connect", "spawn", "close", "worker", "workerName"})
"""Names a service may not use for public members: its clients need them."""


class WorkerService:
    """Base class of services that run in a worker and are called from the main thread.

    In a worker, defining a subclass is all it takes to serve it: its public methods (no leading underscore), sync or
    ``async``, become callable from the main thread. The worker makes one instance per service class, on the first
    call. Importing the same file on the main thread defines the class without serving anything there.

    On the main thread, ``client = await Service.connect()`` returns a client whose methods have the same names,
    signatures, docstrings and annotations as the service's, and return awaitables of the worker's results.

    An interface class may live in a module both sides import, with its implementation in a subclass defined in the
    worker: connecting with the interface class reaches the implementation.
    """

    _typechecked = False

    def __init_subclass__(cls, *, typechecked: bool | None = None, **kwargs: Any) -> None:
        """``class Service(WorkerService, typechecked=True)`` checks each call's arguments in the worker.

        The check (beartype's, see :func:`~workerlib.typechecked`) runs against the method's annotations before the
        method does; a violation is raised in the worker and re-raised on the main thread. Subclasses inherit the
        setting. Without beartype installed it checks nothing.
        """
        super().__init_subclass__(**kwargs)
        if typechecked is not None:
            cls._typechecked = bool(typechecked)
        clashes = sorted(name for name in vars(cls) if name in RESERVED_NAMES)
        if clashes:
            raise TypeError(
                f"{cls.__qualname__} defines {', '.join(clashes)}: these names belong to the client "
                f"that calls the service; rename the method"
            )
        if context() is Context.WORKER:
            server.table.addClass(cls)
            transport.installDispatcher(server.dispatchMessage)

    @classmethod
    async def connect(cls, workerName: str | None = None, *, timeout: float | None = None) -> Any:
        """Connect to the worker that serves this service and return a client for it.

        With no ``workerName``, the page must have exactly one named worker serving this class (or a subclass of it);
        otherwise :class:`~workerlib.ConnectError` lists the workers found and what each serves. With a name, that
        worker must serve it. A worker still loading is waited for.

        ``timeout`` (seconds) bounds connecting and is every call's default deadline: a call not answered in time
        raises ``TimeoutError``. One call can override it with ``client.method(...).withTimeout(seconds)``.
        """
        return await client.connectService(cls, WorkerService, workerName, timeout)

    @classmethod
    async def spawn(
        cls,
        src: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Start a new named worker running the Python file at ``src`` and connect to this service in it.

        ``name`` defaults to a fresh ``<ClassName>-<n>``; ``config`` (a dict or a config file URL) defaults to the main
        thread's own config, so the worker gets the same interpreter and files. Closing the client stops the worker.
        ``timeout`` is as for :meth:`connect`; starting the worker is not bounded by it.
        """
        return await client.spawnService(cls, WorkerService, src, name, config, timeout)


def export(*functions: Callable[..., Any]) -> None:
    """In a worker: make plain functions callable from the main thread through ``connectToWorker``.

    Elsewhere (the main thread importing a worker's file) it does nothing.
    """
    if context() is not Context.WORKER:
        return
    for function in functions:
        server.table.addFunction(function)
    transport.installDispatcher(server.dispatchMessage)
