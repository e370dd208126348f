"""Pools: several workers running one service, each call sent to the least busy of them.

``pool = await Service.pool(n, src)`` starts ``n`` workers (see :meth:`WorkerService.pool
<workerlib.WorkerService.pool>`) and returns a :class:`Pool` whose methods are the service's, like a client's. A call
picks its worker when it is sent: the one with the fewest calls and streams in progress. A worker that dies fails
its own pending calls with :class:`~workerlib.WorkerClosedError` and is replaced by a new one in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Self, overload

from .calls import Call, Stream
from .client import ServiceClient, isStreaming, mappedMethod, streamOf
from .decorators import remoteMethod
from .errors import WorkerClosedError
from .methods import publicMethods

log = logging.getLogger("workerlib.pool")

CALLS_PER_WORKER = 2
"""How many calls of one :meth:`Pool.map` each worker has at a time: one running, one waiting behind it, so a worker
never idles while the next item crosses."""


class Pool[S = Any]:
    """Workers running one service; its methods send each call to the least busy worker.

    ``await pool.method(...)`` and ``async for item in pool.generatorMethod(...)`` work as on a client (callbacks,
    timeouts and cancellation included); :meth:`map` fans calls out over the workers. :meth:`close` (or leaving
    ``async with``) stops every worker. ``S`` is the service class, for type checkers, as for
    :class:`~workerlib.client.ServiceClient`.
    """

    if TYPE_CHECKING:
        # For type checkers only, as on ServiceClient: the service's methods, typed by workerlib.mypyplugin.
        def __getattr__(self, name: str) -> Any: ...

    _service: type = object
    _base: type = object

    def __init__(self, size: int, spawn: Callable[[], Awaitable[ServiceClient]], timeout: float | None) -> None:
        self._size = size
        self._spawn = spawn
        self._timeout = timeout
        self._members: list[ServiceClient] = []
        self._replacing: set[asyncio.Task[None]] = set()
        self._arrived: asyncio.Event = asyncio.Event()
        self._closed = False
        self._broken: str | None = None  # why no worker is left and none is coming, once that is so

    async def _start(self) -> None:
        """Start the workers, all at once; if one fails to start, stop the others and raise its error."""
        started = await asyncio.gather(*(self._spawn() for _ in range(self._size)), return_exceptions=True)
        failed = [outcome for outcome in started if isinstance(outcome, BaseException)]
        clients = [outcome for outcome in started if isinstance(outcome, ServiceClient)]
        if failed:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
            raise failed[0]
        for client in clients:
            self._adopt(client)

    @property
    def size(self) -> int:
        """How many workers the pool has (a worker being replaced counts)."""
        return self._size

    @property
    def clients(self) -> tuple[ServiceClient, ...]:
        """The clients of the workers serving now, one per worker (``client.worker`` ends one, see
        :class:`~workerlib.WorkerHandle`)."""
        return tuple(self._members)

    @property
    def timeout(self) -> float | None:
        """The default deadline of the pool's calls, in seconds (``None``: wait for ever)."""
        return self._timeout

    @overload
    async def map[A, T](self, method: Callable[[Any, A], Awaitable[T]], iterable: Iterable[A], /) -> list[T]: ...

    @overload
    async def map[A, T](self, method: Callable[[Any, A], T], iterable: Iterable[A], /) -> list[T]: ...

    @overload
    async def map[A, B, T](
        self, method: Callable[[Any, A, B], Awaitable[T]], first: Iterable[A], second: Iterable[B], /
    ) -> list[T]: ...

    @overload
    async def map[A, B, T](
        self, method: Callable[[Any, A, B], T], first: Iterable[A], second: Iterable[B], /
    ) -> list[T]: ...

    @overload
    async def map(
        self, method: Callable[..., Any], iterable: Iterable[Any], /, *iterables: Iterable[Any]
    ) -> list[Any]: ...

    async def map(self, method: Callable[..., Any], iterable: Iterable[Any], /, *iterables: Iterable[Any]) -> list[Any]:
        """Call ``method`` once per item, spread over the workers; the results in input order.

        ``method`` is the service's method (``Service.method``) or the pool's (``pool.method``). Like the built-in
        ``map``, each call takes one item of each iterable as its positional arguments, and the map stops at the
        shortest iterable (``zip``). The first call that fails stops the rest and raises its exception.
        """
        name, _ = mappedMethod(self._service, self._base, method, "pool")
        items = list(zip(iterable, *iterables, strict=False))  # stops at the shortest, as map() does
        results: list[Any] = [None] * len(items)
        indexes = iter(range(len(items)))

        async def work() -> None:
            for index in indexes:  # shared: each worker loop takes the next item when it is free
                results[index] = await self._call(name, items[index], {})

        tasks = [asyncio.ensure_future(work()) for _ in range(min(len(items), CALLS_PER_WORKER * self._size))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION) if tasks else (set(), set())
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return results

    async def close(self) -> None:
        """Stop every worker; later calls raise :class:`~workerlib.WorkerClosedError`."""
        if self._closed:
            return
        self._closed = True
        for task in self._replacing:
            task.cancel()
        members, self._members = self._members, []
        self._arrived.set()  # calls waiting for a replacement learn that none comes
        await asyncio.gather(*(client.close() for client in members), return_exceptions=True)

    async def __aenter__(self) -> Self:
        # Self, not Pool: ``async with await Service.pool(...) as p`` keeps the service type for checkers.
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        names = ", ".join(repr(client.workerName) for client in self._members)
        state = "closed" if self._closed else f"workers {names}"
        return f"<{type(self).__qualname__} of {self._size} for {self._service.__qualname__}: {state}>"

    # ---- choosing a worker ----------------------------------------------------------------------------------------

    async def _member(self, where: str) -> ServiceClient:
        while True:
            if self._closed:
                raise WorkerClosedError(f"cannot call {where}: the pool was closed")
            alive = [client for client in self._members if client._connection.link.gone is None]
            if alive:
                return min(alive, key=lambda client: client._busy)
            if self._broken is not None and not self._replacing:
                raise WorkerClosedError(f"cannot call {where}: the pool has no worker left ({self._broken})")
            self._arrived.clear()
            await self._arrived.wait()  # every worker died: the first replacement takes the call

    def _where(self, method: str) -> str:
        return f"{self._service.__qualname__}.{method}() on a pool of {self._size} workers"

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call[Any]:
        async def run(call: Call[Any]) -> Any:
            client = await self._member(call.where)
            inner = client._call(method, args, kwargs)
            inner.timeout = call.timeout
            try:
                return await inner
            finally:
                call.timing = inner.timing

        return Call(run, self._timeout, self._where(method))

    def _stream(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Stream[Any]:
        return Stream(_PoolStream(self, method, args, kwargs), self._timeout, self._where(method))

    # ---- replacing workers that died ------------------------------------------------------------------------------

    def _adopt(self, client: ServiceClient) -> None:
        self._members.append(client)
        client._connection.link.watchers.append(lambda reason: self._lost(client, reason))
        self._arrived.set()

    def _lost(self, client: ServiceClient, reason: str) -> None:
        if self._closed or client not in self._members:
            return
        self._members.remove(client)
        log.warning("worker %r of a pool %s; starting another", client.workerName, reason)
        task = asyncio.ensure_future(self._replace(client))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self, dead: ServiceClient) -> None:
        await dead.close()  # removes the dead worker's script element
        try:
            client = await self._spawn()
        except Exception as error:
            log.exception("could not start a worker to replace %r; the pool goes on with fewer", dead.workerName)
            self._broken = f"starting a worker to replace {dead.workerName!r} failed: {type(error).__name__}: {error}"
            self._replacing.discard(asyncio.current_task())  # over now: _member must not wait for it
            self._arrived.set()  # calls waiting for this replacement learn that none comes
            return
        if self._closed:
            await client.close()
            return
        self._adopt(client)


class _PoolStream:
    """A stream of a pool: the worker is chosen when the stream starts, then it is that worker's stream."""

    def __init__(self, pool: Pool, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.pool = pool
        self.method = method
        self.args = args
        self.kwargs = kwargs
        self.source: Any = None

    async def open(self) -> None:
        client = await self.pool._member(self.pool._where(self.method))
        self.source = streamOf(client, self.method, self.args, self.kwargs)
        await self.source.open()

    async def next(self, timeout: float | None) -> tuple[bool, Any]:
        result: tuple[bool, Any] = await self.source.next(timeout)
        return result

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


_poolClasses: dict[type, type[Pool]] = {}

POOL_NAMES = frozenset(name for name in dir(Pool) if not name.startswith("_"))
"""The pool's own attributes: a service method of one of these names cannot be called through a pool."""


def poolClass(service: type, base: type) -> type[Pool]:
    """The pool class for ``service``, made once: one stand-in per public method, as on its client class."""
    if service not in _poolClasses:
        methods = publicMethods(service, base)
        clashes = sorted(set(methods) & POOL_NAMES)
        if clashes:
            raise TypeError(
                f"{service.__qualname__} defines {', '.join(clashes)}, which a pool needs for itself; rename the "
                f"method to run the service in a pool (or spawn() workers and call them yourself)"
            )
        namespace: dict[str, Any] = {
            "_service": service,
            "_base": base,
            "__doc__": service.__doc__,
            "__module__": service.__module__,
        }
        for name, function in methods.items():
            namespace[name] = remoteMethod(function, name, service.__qualname__, streams=isStreaming(function))
        _poolClasses[service] = type(f"{service.__qualname__}Pool", (Pool,), namespace)
    return _poolClasses[service]
