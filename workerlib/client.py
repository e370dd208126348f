"""The main-thread side: finding the worker that serves a service, and the clients that call it."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import protocol, transport
from ._runtime import clock
from .calls import Call, CallTiming
from .decorators import remoteMethod
from .errors import ConnectError, WorkerClosedError
from .server import publicMethods

type Send = Callable[[bytes], asyncio.Future[Any]]
"""Posts a request payload; the future gets the reply (``bytes``, or a JavaScript buffer). Cancelling it drops it."""

log = logging.getLogger("workerlib.client")


class Link:
    """Everything this thread knows of one worker: how to reach it, its pending calls, and whether it still lives.

    Shared by every client of that worker, so a worker's death fails all of their pending calls at once.
    """

    def __init__(self, name: str, worker: Any, send: Send) -> None:
        self.name = name
        self.worker = worker
        self.send = send
        self.pending: set[asyncio.Future[Any]] = set()
        self.gone: str | None = None
        """Why no call can reach the worker any more, once that is so."""
        self._stopWatching: Callable[[], None] | None = None

    def watch(self, lifeLock: str | None) -> None:
        """Notice the worker's death through the lock it holds while it lives (see :mod:`workerlib.transport`)."""
        if lifeLock is not None and self._stopWatching is None:
            self._stopWatching = transport.watchLifeLock(lifeLock, lambda: self.fail("stopped (terminated or crashed)"))

    def fail(self, reason: str) -> None:
        """Mark the worker unreachable and fail every pending call on it."""
        if self.gone is not None:
            return
        self.gone = reason
        for future in list(self.pending):
            if not future.done():
                future.set_exception(WorkerClosedError(f"worker {self.name!r} {reason} while this call was pending"))
        if self._stopWatching is not None:
            self._stopWatching()

    async def exchange(self, payload: bytes, timeout: float | None, where: str) -> bytes:
        """Send one request and wait for its reply, at most ``timeout`` seconds."""
        if self.gone is not None:
            raise WorkerClosedError(f"cannot call {where}: worker {self.name!r} {self.gone}")
        reply = self.send(payload)
        self.pending.add(reply)
        try:
            # No wait_for without a deadline: the common case stays one plain await.
            answer = await (reply if timeout is None else asyncio.wait_for(reply, timeout))
        except TimeoutError:
            if timeout is None:
                raise
            raise TimeoutError(f"{where} did not answer within {timeout:g} s; a late answer is dropped") from None
        finally:
            self.pending.discard(reply)
        return transport.payloadFromJs(answer)


_links: dict[str, Link] = {}


def linkTo(name: str, worker: Any, description: protocol.Description) -> Link:
    """The link to the named worker, made on first use; a worker replaced under the same name gets a new one."""
    link = _links.get(name)
    if link is None or link.gone is not None or link.worker is not worker:
        link = _links[name] = Link(name, worker, transport.sender(worker))
        link.watch(description.lifeLock)
    return link


class Connection:
    """One client's view of a link: its own closed state and default timeout."""

    def __init__(self, link: Link, *, timeout: float | None = None, owned: bool = False) -> None:
        self.link = link
        self.timeout = timeout
        self.owned = owned
        self.closed = False

    @property
    def name(self) -> str:
        return self.link.name

    def call(self, request: protocol.Request, where: str) -> Call[Any]:
        return Call(lambda call: self._run(call, request), self.timeout, where)

    async def _run(self, call: Call[Any], request: protocol.Request) -> Any:
        if self.closed:
            raise WorkerClosedError(f"cannot call {call.where}: the client was closed")
        now = clock()
        began = now()
        payload = await protocol.encodeRequest(request)
        ok, value, stamps = await protocol.decodeReply(await self.link.exchange(payload, call.timeout, call.where))
        if stamps is not None:
            call.timing = _timing(began, stamps, now())
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %s", call.where, call.timing)
        if ok:
            return value
        raise await value.rebuild(call.where)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.owned:
            self.link.fail("was closed with the client that spawned it")
            transport.terminate(self.name)


def _timing(began: float, stamps: protocol.Stamps, ended: float) -> CallTiming:
    def seconds(start: float, end: float) -> float:
        return max(end - start, 0.0) / 1000.0  # clocks of two threads may disagree by a hair

    return CallTiming(
        argumentTransfer=seconds(began, stamps.started),
        execution=seconds(stamps.started, stamps.finished),
        returnTransfer=seconds(stamps.finished, ended),
        total=seconds(began, ended),
    )


class ServiceClient:
    """Base of every client ``connect`` returns; subclasses gain one method per public service method."""

    _service: type = object

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def worker(self) -> Any:
        """PyScript's own worker object (a ``JsProxy``), for anything workerlib does not cover."""
        return self._connection.link.worker

    @property
    def workerName(self) -> str:
        """The name of the worker this client calls."""
        return self._connection.name

    @property
    def timeout(self) -> float | None:
        """The default deadline of this client's calls, in seconds (``None``: wait for ever)."""
        return self._connection.timeout

    async def close(self) -> None:
        """Release the client; later calls raise :class:`~workerlib.WorkerClosedError`. A spawned worker is stopped."""
        await self._connection.close()

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call[Any]:
        service = self._service
        target = protocol.ServiceTarget(service.__qualname__, service.__module__, method)
        request = protocol.Request(protocol.OP_CALL, target, args, kwargs)
        return self._connection.call(request, f"{service.__qualname__}.{method}() on worker {self.workerName!r}")

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


async def describe(name: str, worker: Any, timeout: float | None = None) -> protocol.Description:
    """Ask a worker what it serves; raises :class:`ConnectError` if it does not run workerlib."""
    request = await protocol.encodeRequest(protocol.Request(protocol.OP_DESCRIBE, None))
    # A link of its own: the worker is not known to serve workerlib yet, so it is not watched or shared.
    link = Link(name, worker, transport.sender(worker))
    try:
        ok, value, _ = await protocol.decodeReply(await link.exchange(request, timeout, f"worker {name!r}"))
    except TimeoutError:
        raise  # a deadline passed: not a sign that the worker lacks workerlib
    except Exception as error:
        raise ConnectError(
            f"worker {name!r} does not answer workerlib requests ({type(error).__name__}: {error}); "
            f"does its code import workerlib and define a WorkerService subclass or call export()?"
        ) from error
    if not ok or not isinstance(value, protocol.Description):
        raise ConnectError(f"worker {name!r} sent an unexpected description: {value!r}")
    return value


def _summary(description: protocol.Description) -> str:
    services = ", ".join(qualname for _, qualname, _ in description.services)
    functions = ", ".join(description.functions)
    parts = ([f"services {services}"] if services else []) + ([f"functions {functions}"] if functions else [])
    return " and ".join(parts) or "nothing"


async def _described(name: str, timeout: float | None) -> tuple[Any, protocol.Description]:
    worker = await asyncio.wait_for(transport.workerByName(name), timeout)
    return worker, await describe(name, worker, timeout)


async def findWorker(
    wanted: str, serves: Callable[[protocol.Description], bool], workerName: str | None, timeout: float | None = None
) -> tuple[str, Any, protocol.Description]:
    """The worker to connect to: the named one if it serves what is wanted, else the only one on the page that does.

    Workers still loading are waited for, at most ``timeout`` seconds.
    """
    names = transport.namedWorkers()
    try:
        if workerName is not None:
            if workerName not in names:
                listed = ", ".join(repr(name) for name in names) or "none"
                raise ConnectError(f"no worker named {workerName!r} on this page (named workers: {listed})")
            worker, description = await _described(workerName, timeout)
            if not serves(description):
                raise ConnectError(f"worker {workerName!r} does not serve {wanted}; it serves {_summary(description)}")
            return workerName, worker, description
        if not names:
            raise ConnectError(
                f"cannot connect to {wanted}: this page has no named workers; add "
                f'<script type="py" worker name="..." src="..."> or use spawn()'
            )
        answers = await asyncio.gather(*(_described(name, timeout) for name in names), return_exceptions=True)
    except TimeoutError:
        raise TimeoutError(f"cannot connect to {wanted}: no answer within {timeout:g} s") from None
    found = [
        (name, answer[0], answer[1])
        for name, answer in zip(names, answers, strict=True)
        if isinstance(answer, tuple) and serves(answer[1])
    ]
    if len(found) == 1:
        return found[0]
    report = "; ".join(
        f"{name!r} serves {_summary(answer[1])}" if isinstance(answer, tuple) else f"{name!r}: {answer}"
        for name, answer in zip(names, answers, strict=True)
    )
    if not found:
        if any(isinstance(answer, TimeoutError) for answer in answers):
            raise TimeoutError(f"cannot connect to {wanted}: within {timeout:g} s, found {report}")
        raise ConnectError(f"no worker on this page serves {wanted} (found {report})")
    matching = ", ".join(repr(name) for name, _, _ in found)
    raise ConnectError(f"several workers serve {wanted} ({matching}); pass workerName= to choose one (found {report})")


def _checkTimeout(timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


async def connectService(
    service: type, stop: type, workerName: str | None, timeout: float | None = None
) -> ServiceClient:
    """Connect a client for ``service``: see ``WorkerService.connect``."""
    _checkTimeout(timeout)
    qualname = service.__qualname__
    name, worker, description = await findWorker(
        f"service {qualname}", lambda found: found.serves(qualname), workerName, timeout
    )
    return clientClass(service, stop)(Connection(linkTo(name, worker, description), timeout=timeout))


_spawned = itertools.count(1)


async def spawnService(
    service: type,
    stop: type,
    src: str,
    name: str | None,
    config: dict[str, Any] | str | None,
    timeout: float | None = None,
) -> ServiceClient:
    """Start a named worker running ``src`` and connect a client that stops the worker when closed."""
    _checkTimeout(timeout)
    if name is None:
        taken = set(transport.namedWorkers())
        name = next(f"{service.__name__}-{n}" for n in _spawned if f"{service.__name__}-{n}" not in taken)
    elif name in transport.namedWorkers():
        raise ConnectError(f"a worker named {name!r} already exists on this page; choose another name")
    worker = await transport.createWorker(src, name, config if config is not None else transport.mainConfig())
    try:
        description = await describe(name, worker, timeout)
        if not description.serves(service.__qualname__):
            raise ConnectError(
                f"worker {name!r} started from {src!r} does not serve service {service.__qualname__}; "
                f"it serves {_summary(description)}"
            )
    except BaseException:
        transport.terminate(name)
        raise
    link = linkTo(name, worker, description)
    return clientClass(service, stop)(Connection(link, timeout=timeout, owned=True))


class Worker:
    """A connection to a worker's functions registered with ``export``: ``await worker.func(*args, **kwargs)``."""

    def __init__(self, connection: Connection, functions: tuple[str, ...]) -> None:
        self._connection = connection
        self.functions = functions
        """Names of the functions the worker exports."""

    @property
    def worker(self) -> Any:
        """PyScript's own worker object (a ``JsProxy``)."""
        return self._connection.link.worker

    @property
    def workerName(self) -> str:
        """The name of the worker."""
        return self._connection.name

    def __getattr__(self, name: str) -> Callable[..., Call[Any]]:
        if name.startswith("_") or name not in self.functions:
            exported = ", ".join(self.functions) or "nothing"
            raise AttributeError(f"worker {self.workerName!r} exports no function {name!r}; it exports {exported}")

        def call(*args: Any, **kwargs: Any) -> Call[Any]:
            request = protocol.Request(protocol.OP_FUNCTION, name, args, kwargs)
            return self._connection.call(request, f"{name}() on worker {self.workerName!r}")

        call.__name__ = call.__qualname__ = name
        return call

    async def close(self) -> None:
        """Release the connection; later calls raise :class:`~workerlib.WorkerClosedError`."""
        await self._connection.close()

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connectToWorker(workerName: str | None = None, *, timeout: float | None = None) -> Worker:
    """Connect to a worker's exported functions: the named worker, or the only one on the page that exports any.

    ``timeout`` is as for :meth:`WorkerService.connect <workerlib.WorkerService.connect>`.
    """
    _checkTimeout(timeout)
    name, worker, description = await findWorker(
        "exported functions", lambda found: bool(found.functions), workerName, timeout
    )
    return Worker(Connection(linkTo(name, worker, description), timeout=timeout), description.functions)


def loopback(dispatch: Callable[[bytes], Awaitable[bytes]]) -> Send:
    """A :data:`Send` that hands payloads to a dispatcher in this same thread: for tests in plain CPython."""

    def send(payload: bytes) -> asyncio.Future[bytes]:
        reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def settle(task: asyncio.Task[bytes]) -> None:
            if reply.done() or task.cancelled():
                return
            error = task.exception()
            if error is not None:
                reply.set_exception(error)
            else:
                reply.set_result(task.result())

        asyncio.ensure_future(dispatch(payload)).add_done_callback(settle)
        return reply

    return send
