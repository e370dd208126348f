"""The main-thread side: finding the worker that serves a service, and the clients that call it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from . import protocol, transport
from .decorators import remoteMethod
from .errors import ConnectError, WorkerClosedError
from .server import publicMethods

type Send = Callable[[bytes], Awaitable[bytes]]


class Connection:
    """One link to one worker: sends requests, decodes replies, re-raises the worker's exceptions here."""

    def __init__(self, name: str, worker: Any, send: Send, *, owned: bool = False) -> None:
        self.name = name
        self.worker = worker
        self.owned = owned
        self.closed = False
        self._send = send

    async def request(self, request: protocol.Request, where: str) -> Any:
        if self.closed:
            raise WorkerClosedError(f"cannot call {where}: the client was closed")
        payload = protocol.encodeRequest(request)
        ok, value = protocol.decodeReply(await self._send(payload))
        if ok:
            return value
        raise value.rebuild(where)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.owned:
            transport.terminate(self.name)


class ServiceClient:
    """Base of every client ``connect`` returns; subclasses gain one method per public service method."""

    _service: type = object

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def worker(self) -> Any:
        """PyScript's own worker object (a ``JsProxy``), for anything workerlib does not cover."""
        return self._connection.worker

    @property
    def workerName(self) -> str:
        """The name of the worker this client calls."""
        return self._connection.name

    async def close(self) -> None:
        """Release the client; later calls raise :class:`~workerlib.WorkerClosedError`. A spawned worker is stopped."""
        await self._connection.close()

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        service = self._service
        target = protocol.ServiceTarget(service.__qualname__, service.__module__, method)
        request = protocol.Request(protocol.OP_CALL, target, args, kwargs)
        return self._connection.request(request, f"{service.__qualname__}.{method}() on worker {self.workerName!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} for worker {self.workerName!r}>"


_clientClasses: dict[type, type[ServiceClient]] = {}


def clientClass(service: type, stop: type) -> type[ServiceClient]:
    """The client class for ``service``, made once: one wrapt stand-in per public method."""
    if service not in _clientClasses:
        namespace: dict[str, Any] = {"_service": service, "__doc__": service.__doc__, "__module__": service.__module__}
        for name, function in publicMethods(service, stop).items():
            namespace[name] = remoteMethod(function, name, service.__qualname__)
        _clientClasses[service] = type(f"{service.__qualname__}Client", (ServiceClient,), namespace)
    return _clientClasses[service]


async def describe(name: str, worker: Any) -> protocol.Description:
    """Ask a worker what it serves; raises :class:`ConnectError` if it does not run workerlib."""
    send = _sender(worker)
    try:
        ok, value = protocol.decodeReply(
            await send(protocol.encodeRequest(protocol.Request(protocol.OP_DESCRIBE, None)))
        )
    except Exception as error:
        raise ConnectError(
            f"worker {name!r} does not answer workerlib requests ({type(error).__name__}: {error}); "
            f"does its code import workerlib and define a WorkerService subclass or call export()?"
        ) from error
    if not ok or not isinstance(value, protocol.Description):
        raise ConnectError(f"worker {name!r} sent an unexpected description: {value!r}")
    return value


def _sender(worker: Any) -> Send:
    return lambda payload: transport.send(worker, payload)


def _summary(description: protocol.Description) -> str:
    services = ", ".join(qualname for _, qualname, _ in description.services)
    functions = ", ".join(description.functions)
    parts = ([f"services {services}"] if services else []) + ([f"functions {functions}"] if functions else [])
    return " and ".join(parts) or "nothing"


async def findWorker(
    wanted: str, serves: Callable[[protocol.Description], bool], workerName: str | None
) -> tuple[str, Any]:
    """The worker to connect to: the named one if it serves what is wanted, else the only one on the page that does."""
    names = transport.namedWorkers()
    if workerName is not None:
        if workerName not in names:
            listed = ", ".join(repr(name) for name in names) or "none"
            raise ConnectError(f"no worker named {workerName!r} on this page (named workers: {listed})")
        worker = await transport.workerByName(workerName)
        description = await describe(workerName, worker)
        if not serves(description):
            raise ConnectError(f"worker {workerName!r} does not serve {wanted}; it serves {_summary(description)}")
        return workerName, worker
    if not names:
        raise ConnectError(
            f"cannot connect to {wanted}: this page has no named workers; add "
            f'<script type="py" worker name="..." src="..."> or use spawn()'
        )
    workers = await asyncio.gather(*(transport.workerByName(name) for name in names))
    answers = await asyncio.gather(
        *(describe(name, worker) for name, worker in zip(names, workers, strict=True)), return_exceptions=True
    )
    found = [
        (name, worker)
        for name, worker, answer in zip(names, workers, answers, strict=True)
        if isinstance(answer, protocol.Description) and serves(answer)
    ]
    if len(found) == 1:
        return found[0]
    report = "; ".join(
        f"{name!r} serves {_summary(answer)}" if isinstance(answer, protocol.Description) else f"{name!r}: {answer}"
        for name, answer in zip(names, answers, strict=True)
    )
    if not found:
        raise ConnectError(f"no worker on this page serves {wanted} (found {report})")
    matching = ", ".join(repr(name) for name, _ in found)
    raise ConnectError(f"several workers serve {wanted} ({matching}); pass workerName= to choose one (found {report})")


async def connectService(service: type, stop: type, workerName: str | None) -> ServiceClient:
    """Connect a client for ``service``: see ``WorkerService.connect``."""
    qualname = service.__qualname__
    name, worker = await findWorker(f"service {qualname}", lambda description: description.serves(qualname), workerName)
    return clientClass(service, stop)(Connection(name, worker, _sender(worker)))


_spawned = itertools.count(1)


async def spawnService(
    service: type, stop: type, src: str, name: str | None, config: dict[str, Any] | str | None
) -> ServiceClient:
    """Start a named worker running ``src`` and connect a client that stops the worker when closed."""
    if name is None:
        taken = set(transport.namedWorkers())
        name = next(f"{service.__name__}-{n}" for n in _spawned if f"{service.__name__}-{n}" not in taken)
    elif name in transport.namedWorkers():
        raise ConnectError(f"a worker named {name!r} already exists on this page; choose another name")
    worker = await transport.createWorker(src, name, config if config is not None else transport.mainConfig())
    try:
        description = await describe(name, worker)
        if not description.serves(service.__qualname__):
            raise ConnectError(
                f"worker {name!r} started from {src!r} does not serve service {service.__qualname__}; "
                f"it serves {_summary(description)}"
            )
    except BaseException:
        transport.terminate(name)
        raise
    return clientClass(service, stop)(Connection(name, worker, _sender(worker), owned=True))


class Worker:
    """A connection to a worker's functions registered with ``export``: ``await worker.func(*args, **kwargs)``."""

    def __init__(self, connection: Connection, functions: tuple[str, ...]) -> None:
        self._connection = connection
        self.functions = functions
        """Names of the functions the worker exports."""

    @property
    def worker(self) -> Any:
        """PyScript's own worker object (a ``JsProxy``)."""
        return self._connection.worker

    @property
    def workerName(self) -> str:
        """The name of the worker."""
        return self._connection.name

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_") or name not in self.functions:
            exported = ", ".join(self.functions) or "nothing"
            raise AttributeError(f"worker {self.workerName!r} exports no function {name!r}; it exports {exported}")

        def call(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            request = protocol.Request(protocol.OP_FUNCTION, name, args, kwargs)
            return self._connection.request(request, f"{name}() on worker {self.workerName!r}")

        call.__name__ = call.__qualname__ = name
        return call

    async def close(self) -> None:
        """Release the connection; later calls raise :class:`~workerlib.WorkerClosedError`."""
        await self._connection.close()

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connectToWorker(workerName: str | None = None) -> Worker:
    """Connect to a worker's exported functions: the named worker, or the only one on the page that exports any."""
    name, worker = await findWorker("exported functions", lambda description: bool(description.functions), workerName)
    description = await describe(name, worker)
    return Worker(Connection(name, worker, _sender(worker)), description.functions)
