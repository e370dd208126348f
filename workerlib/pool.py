"""Pools: workers running one service, and a queue of calls waiting for the first of them that is free.

``pool = await Service.pool(n, src)`` starts ``n`` workers (see :meth:`WorkerService.pool
<workerlib.WorkerService.pool>`) and returns a :class:`Pool` whose methods are the service's, like a client's.

How a call finds a worker, in one place (:meth:`Pool._enter`, :meth:`Pool._free`): a worker runs one call of the pool
at a time. A call made while a worker is idle takes it; otherwise it waits in the pool's queue, first come first
served, and the next worker to finish takes the call at the head of the queue. With ``maxSize``, a call that has to
wait starts another worker (up to ``maxSize``), and a worker above ``n`` that stays idle for ``idleTimeout`` seconds
is stopped. With ``maxQueue``, at most that many calls wait in the queue; later ones wait to enter it, and the maps
(:class:`_Fanout`) read no item of their iterables until there is room for it.

A broadcast holds every worker as a call does, so a call never starts on a worker before the broadcasts made before
it have finished there; a worker the pool starts later runs every broadcast, in order, before it joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, overload

from . import protocol
from ._runtime import newFuture
from .calls import Call, LoopOver, Stream
from .client import ServiceClient, checkMapItem, isStreaming, mappedMethod, streamOf
from .decorators import remoteMethod
from .errors import WorkerClosedError
from .methods import publicMethods

log = logging.getLogger("workerlib.pool")

TIMES_KEPT = 1024
"""How many of the latest calls' wait and run times :meth:`Pool.stats` takes its medians from."""


@dataclass(frozen=True)
class PoolStats:
    """What a pool is doing and has done: :meth:`Pool.stats`. Times are in seconds.

    A call here is one call of a service method: a pool method called directly, one item of a map, or one stream.
    Items sent together (``chunksize``) wait and run together, and each counts.
    """

    workers: int
    """Workers the pool has now: ``starting + idle + busy``."""
    starting: int
    """Workers being started (or set up with the pool's broadcasts) that take no call yet."""
    idle: int
    """Workers ready for a call."""
    busy: int
    """Workers running a call (or a broadcast)."""
    waiting: int
    """Calls waiting for a free worker (with ``maxQueue``, also those waiting to enter the queue)."""
    completed: int
    """Calls that returned a result."""
    failed: int
    """Calls that raised an exception (the method's own, a timeout, a worker that died)."""
    cancelled: int
    """Calls stopped before they finished: cancelled, or the rest of a map after its first failure."""
    medianWait: float
    """The median time a call waited for a worker, of the latest :data:`TIMES_KEPT` calls (0 before any)."""
    maxWait: float
    """The longest time a call waited for a worker since the pool started."""
    medianRun: float
    """The median time from a worker taking a call until its answer, of the latest :data:`TIMES_KEPT` calls."""
    maxRun: float
    """The longest time a call ran since the pool started."""
    utilization: float
    """The share of the workers' time spent busy since the pool started, from 0 to 1."""

    def __str__(self) -> str:
        return (
            f"{self.workers} workers ({self.busy} busy, {self.idle} idle, {self.starting} starting), "
            f"{self.waiting} calls waiting, {self.completed} completed, {self.failed} failed, "
            f"{self.cancelled} cancelled; wait {self.medianWait * 1000:.1f} ms median, "
            f"{self.maxWait * 1000:.1f} ms max; run {self.medianRun * 1000:.1f} ms median, "
            f"{self.maxRun * 1000:.1f} ms max; "
            f"utilization {self.utilization:.0%}"
        )


class _Signal:
    """Wakes whoever waits for something to change (room in the queue, a result); each waiter has its own future,
    so one waiter being cancelled cancels no other."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[asyncio.Future[None]] = []

    async def wait(self) -> None:
        future: asyncio.Future[None] = newFuture()
        self._waiting.append(future)
        try:
            await future
        finally:
            if future in self._waiting:
                self._waiting.remove(future)

    def fire(self) -> None:
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(None)


class _Member:
    """One worker of a pool: its client, how many calls and broadcasts hold it, and its busy time."""

    __slots__ = ("born", "busySince", "busyTotal", "client", "holds", "idleTimer")

    def __init__(self, client: ServiceClient, now: float) -> None:
        self.client = client
        self.holds = 0
        self.born = now
        self.busySince = 0.0
        self.busyTotal = 0.0
        self.idleTimer: asyncio.TimerHandle | None = None

    @property
    def name(self) -> str:
        return self.client.workerName

    def busyUntil(self, now: float) -> float:
        """Seconds busy from joining until ``now``."""
        return self.busyTotal + (now - self.busySince if self.holds else 0.0)


class _Waiter:
    """A call waiting for a worker: the future the worker is handed through, and when the call began to wait."""

    __slots__ = ("future", "since")

    def __init__(self, since: float) -> None:
        self.future: asyncio.Future[_Member] = newFuture()
        self.since = since


class _Broadcast:
    """One :meth:`Pool.broadcast`, kept for the workers the pool starts later."""

    __slots__ = ("args", "failed", "kwargs", "method")

    def __init__(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.method = method
        self.args = args
        self.kwargs = kwargs
        self.failed = False


class Pool[S = Any]:
    """Workers running one service; its methods send each call to the first worker that is free.

    ``await pool.method(...)`` and ``async for item in pool.generatorMethod(...)`` work as on a client (callbacks,
    timeouts and cancellation included); a call waits in the pool's queue while every worker is busy. :meth:`map`,
    :meth:`imap` and :meth:`imapUnordered` fan calls out over the workers; :meth:`broadcast` runs a method on every
    worker, now and on each worker started later; :meth:`stats` says what the pool is doing. :meth:`close` (or leaving
    ``async with``) stops every worker. ``S`` is the service class, for type checkers, as for
    :class:`~workerlib.client.ServiceClient`.
    """

    if TYPE_CHECKING:
        # For type checkers only, as on ServiceClient: the service's methods, typed by workerlib.mypyplugin.
        def __getattr__(self, name: str) -> Any: ...

    _service: type = object
    _base: type = object

    def __init__(
        self,
        size: int,
        spawn: Callable[[], Awaitable[ServiceClient]],
        timeout: float | None,
        *,
        maxSize: int | None = None,
        idleTimeout: float | None = None,
        maxQueue: int | None = None,
    ) -> None:
        self._least = size
        self._most = size if maxSize is None else maxSize
        self._idleTimeout = idleTimeout
        self._maxQueue = maxQueue
        self._spawn = spawn
        self._timeout = timeout
        self._members: list[_Member] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._stopping: set[asyncio.Task[None]] = set()  # closing clients of workers that left
        self._queue: deque[_Waiter] = deque()  # waiting for a worker
        self._blocked: deque[_Waiter] = deque()  # waiting to enter the queue (maxQueue)
        self._room = _Signal()  # a worker or a place in the queue freed up, or a result was taken: maps read on
        self._settled = _Signal()  # a worker finished what held it: close() waits for all to finish
        self._broadcasts: list[_Broadcast] = []
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self._broken: str | None = None  # why starting a worker failed: the pool starts no more
        self._born = time.monotonic()
        self._pastBusy = 0.0  # busy and alive seconds of workers that left
        self._pastAlive = 0.0
        self._counts = {"completed": 0, "failed": 0, "cancelled": 0}
        self._waits: deque[float] = deque(maxlen=TIMES_KEPT)
        self._runs: deque[float] = deque(maxlen=TIMES_KEPT)
        self._maxWait = 0.0
        self._maxRun = 0.0

    async def _start(self) -> None:
        """Start the first ``n`` workers, all at once; if one fails to start, stop the others and raise its error."""
        started = await asyncio.gather(*(self._spawn() for _ in range(self._least)), return_exceptions=True)
        failed = [outcome for outcome in started if isinstance(outcome, BaseException)]
        clients = [outcome for outcome in started if isinstance(outcome, ServiceClient)]
        if failed:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
            raise failed[0]
        for client in clients:
            self._adopt(client, "started")

    # ---- what the pool is -----------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many workers the pool has now, those starting included (from ``n`` up to :attr:`maxSize`)."""
        return len(self._members) + len(self._starting)

    @property
    def maxSize(self) -> int:
        """The most workers the pool runs at once (``n`` unless the pool was made with ``maxSize``)."""
        return self._most

    @property
    def idleTimeout(self) -> float | None:
        """Seconds a worker above ``n`` may stay idle before the pool stops it (``None``: never)."""
        return self._idleTimeout

    @property
    def maxQueue(self) -> int | None:
        """The most calls that wait in the queue for a worker (``None``: no limit)."""
        return self._maxQueue

    @property
    def clients(self) -> tuple[ServiceClient, ...]:
        """The clients of the workers serving now, one per worker (``client.worker`` ends one, see
        :class:`~workerlib.WorkerHandle`)."""
        return tuple(member.client for member in self._members)

    @property
    def timeout(self) -> float | None:
        """The default deadline of each of the pool's calls once a worker takes it, in seconds (``None``: wait for
        ever); for a map, of each chunk."""
        return self._timeout

    def stats(self) -> PoolStats:
        """What the pool is doing now and has done since it started, as a :class:`PoolStats`."""
        import statistics  # here: a worker never asks, and the module costs 40 ms to import in Pyodide

        now = time.monotonic()
        busy = sum(1 for member in self._members if member.holds)
        busyTime = self._pastBusy + sum(member.busyUntil(now) for member in self._members)
        aliveTime = self._pastAlive + sum(now - member.born for member in self._members)
        return PoolStats(
            workers=self.size,
            starting=len(self._starting),
            idle=len(self._members) - busy,
            busy=busy,
            waiting=len(self._queue) + len(self._blocked),
            completed=self._counts["completed"],
            failed=self._counts["failed"],
            cancelled=self._counts["cancelled"],
            medianWait=statistics.median(self._waits) if self._waits else 0.0,
            maxWait=self._maxWait,
            medianRun=statistics.median(self._runs) if self._runs else 0.0,
            maxRun=self._maxRun,
            utilization=busyTime / aliveTime if aliveTime > 0 else 0.0,
        )

    # ---- fanning out ----------------------------------------------------------------------------------------------

    @overload
    def map[A, T](
        self,
        method: Callable[[Any, A], Awaitable[T]],
        iterable: Iterable[A] | AsyncIterable[A],
        /,
        *,
        chunksize: int = 1,
    ) -> Call[list[T]]: ...

    @overload
    def map[A, T](
        self, method: Callable[[Any, A], T], iterable: Iterable[A] | AsyncIterable[A], /, *, chunksize: int = 1
    ) -> Call[list[T]]: ...

    @overload
    def map[A, B, T](
        self,
        method: Callable[[Any, A, B], Awaitable[T]],
        first: Iterable[A] | AsyncIterable[A],
        second: Iterable[B] | AsyncIterable[B],
        /,
        *,
        chunksize: int = 1,
    ) -> Call[list[T]]: ...

    @overload
    def map[A, B, T](
        self,
        method: Callable[[Any, A, B], T],
        first: Iterable[A] | AsyncIterable[A],
        second: Iterable[B] | AsyncIterable[B],
        /,
        *,
        chunksize: int = 1,
    ) -> Call[list[T]]: ...

    @overload
    def map(
        self,
        method: Callable[..., Any],
        iterable: Iterable[Any] | AsyncIterable[Any],
        /,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        chunksize: int = 1,
    ) -> Call[list[Any]]: ...

    def map(
        self,
        method: Callable[..., Any],
        iterable: Iterable[Any] | AsyncIterable[Any],
        /,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        chunksize: int = 1,
    ) -> Call[list[Any]]:
        """Call ``method`` once per item, spread over the workers; a :class:`~workerlib.Call` of the results in input
        order.

        ``method`` is the service's method (``Service.method``) or the pool's (``pool.method``). Like the built-in
        ``map``, each call takes one item of each iterable as its positional arguments, and the map stops at the
        shortest iterable (``zip``); an iterable may be ``async`` (an async generator reading a stream, say). Items are
        read as workers become free (with ``maxQueue``, never more than the queue has room for), and ``chunksize``
        items go to a worker in one message. ``.withTimeout(seconds)`` bounds
        the whole map (the pool's ``timeout`` bounds each chunk). The first call that fails stops the rest and raises
        its exception; a deadline, or cancelling the task awaiting the map, stops it too: the items in flight are
        cancelled in their workers and no more are sent.
        """
        fanout = self._fanout(method, (iterable, *iterables), chunksize, ordered=True, windowed=False)
        return Call(_collect, None, fanout.where, fanout)

    @overload
    def imap[A, T](
        self,
        method: Callable[[Any, A], Awaitable[T]],
        iterable: Iterable[A] | AsyncIterable[A],
        /,
        *,
        chunksize: int = 1,
    ) -> PoolResults[T]: ...

    @overload
    def imap[A, T](
        self, method: Callable[[Any, A], T], iterable: Iterable[A] | AsyncIterable[A], /, *, chunksize: int = 1
    ) -> PoolResults[T]: ...

    @overload
    def imap[A, B, T](
        self,
        method: Callable[[Any, A, B], Awaitable[T]],
        first: Iterable[A] | AsyncIterable[A],
        second: Iterable[B] | AsyncIterable[B],
        /,
        *,
        chunksize: int = 1,
    ) -> PoolResults[T]: ...

    @overload
    def imap[A, B, T](
        self,
        method: Callable[[Any, A, B], T],
        first: Iterable[A] | AsyncIterable[A],
        second: Iterable[B] | AsyncIterable[B],
        /,
        *,
        chunksize: int = 1,
    ) -> PoolResults[T]: ...

    @overload
    def imap(
        self,
        method: Callable[..., Any],
        iterable: Iterable[Any] | AsyncIterable[Any],
        /,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        chunksize: int = 1,
    ) -> PoolResults[Any]: ...

    def imap(
        self,
        method: Callable[..., Any],
        iterable: Iterable[Any] | AsyncIterable[Any],
        /,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        chunksize: int = 1,
    ) -> PoolResults[Any]:
        """As :meth:`map`, but an async iterator of the results in input order, each as soon as it and those before
        it are in (:class:`PoolResults`)::

            async for tile in pool.imap(Tiles.render, positions):
                draw(tile)
        """
        return PoolResults(self._fanout(method, (iterable, *iterables), chunksize, ordered=True, windowed=True))

    @overload
    def imapUnordered[A, T](
        self,
        method: Callable[[Any, A], Awaitable[T]],
        iterable: Iterable[A] | AsyncIterable[A],
        /,
        *,
        chunksize: int = 1,
    ) -> PoolResults[T]: ...

    @overload
    def imapUnordered[A, T](
        self, method: Callable[[Any, A], T], iterable: Iterable[A] | AsyncIterable[A], /, *, chunksize: int = 1
    ) -> PoolResults[T]: ...

    @overload
    def imapUnordered[A, B, T](
        self,
        method: Callable[[Any, A, B], Awaitable[T]],
        first: Iterable[A] | AsyncIterable[A],
        second: Iterable[B] | AsyncIterable[B],
        /,
        *,
        chunksize: int = 1,
    ) -> PoolResults[T]: ...

    @overload
    def imapUnordered[A, B, T](
        self,
        method: Callable[[Any, A, B], T],
        first: Iterable[A] | AsyncIterable[A],
        second: Iterable[B] | AsyncIterable[B],
        /,
        *,
        chunksize: int = 1,
    ) -> PoolResults[T]: ...

    @overload
    def imapUnordered(
        self,
        method: Callable[..., Any],
        iterable: Iterable[Any] | AsyncIterable[Any],
        /,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        chunksize: int = 1,
    ) -> PoolResults[Any]: ...

    def imapUnordered(
        self,
        method: Callable[..., Any],
        iterable: Iterable[Any] | AsyncIterable[Any],
        /,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        chunksize: int = 1,
    ) -> PoolResults[Any]:
        """As :meth:`imap`, but the results in the order they complete.

        The results of a chunk (``chunksize`` above 1) come together, when the whole chunk is in::

            async for count in pool.imapUnordered(Logs.scan, chunks):
                progress.value += 1
        """
        return PoolResults(self._fanout(method, (iterable, *iterables), chunksize, ordered=False, windowed=True))

    def _fanout(
        self,
        method: Any,
        iterables: tuple[Iterable[Any] | AsyncIterable[Any], ...],
        chunksize: int,
        *,
        ordered: bool,
        windowed: bool,
    ) -> _Fanout:
        name, function = mappedMethod(self._service, self._base, method, "pool")
        if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError(f"chunksize must be a positive int, got {chunksize!r}")
        return _Fanout(self, name, function, _Zip(iterables), chunksize, ordered, windowed)

    async def broadcast(self, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> list[Any]:
        """Call ``method`` once on every worker of the pool; their results, a list in the order of :attr:`clients`.

        Every worker the pool starts later (to grow, or to replace one that died) runs the same broadcasts, in
        order, before it takes any other call, so a broadcast is the way to give every worker the same state once::

            await pool.broadcast(Logs.load, text)  # every worker keeps the text; later calls refer to it

        A worker busy with a call runs the broadcast when that call ends, and takes no other call before. The
        arguments travel once per worker and stay referenced by the pool for the workers it starts later. If the
        method fails on a worker, its exception is raised (naming the worker) and the broadcast is not run on later
        workers. A worker that dies during the broadcast has no result in the list; the worker replacing it runs the
        broadcast before it takes a call.
        """
        name, _ = mappedMethod(self._service, self._base, method, "pool")
        if self._closed:
            raise WorkerClosedError(f"cannot broadcast {self._where(name)}: the pool was closed")
        entry = _Broadcast(name, args, kwargs)
        self._broadcasts.append(entry)  # first: a worker starting now runs it before it joins
        members = list(self._members)
        for member in members:
            self._hold(member)
        try:
            outcomes = await asyncio.gather(
                *(self._broadcastTo(member.client, entry) for member in members), return_exceptions=True
            )
        finally:
            for member in members:
                self._free(member)
        results = []
        for member, outcome in zip(members, outcomes, strict=True):
            if isinstance(outcome, WorkerClosedError) and member not in self._members and not self._closed:
                continue  # the worker died meanwhile: its replacement runs the broadcast before it joins
            if isinstance(outcome, BaseException):
                entry.failed = True
                if isinstance(outcome, Exception):
                    outcome.add_note(f"(broadcast to worker {member.name!r}; it is not run on workers started later)")
                raise outcome
            results.append(outcome)
        return results

    async def _broadcastTo(self, client: ServiceClient, entry: _Broadcast) -> Any:
        """Run one broadcast on one worker, under the pool's per-call deadline: now, or as a new worker joins."""
        call = client._call(entry.method, entry.args, entry.kwargs)
        call.timeout = self._timeout
        return await call

    # ---- life -----------------------------------------------------------------------------------------------------

    async def close(self, timeout: float | None = None) -> None:
        """Stop the pool: let the calls running finish, then stop every worker.

        Calls made from now on, and calls still waiting for a worker, raise :class:`~workerlib.WorkerClosedError`.
        With ``timeout``, the calls still running after that many seconds are stopped with their workers (they raise
        :class:`~workerlib.WorkerClosedError` saying so). Leaving ``async with`` closes without a timeout. Calling it
        again waits for the first close to end.
        """
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ValueError(f"close(timeout=...) takes a positive number of seconds or None, got {timeout!r}")
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closed = True
        self._closing = newFuture()
        try:
            for task in self._starting:
                task.cancel()
            for member in self._members:
                self._stopIdleTimer(member)
            self._failWaiting(WorkerClosedError("the pool was closed while the call waited for a worker"))
            self._room.fire()  # maps waiting to read items learn the pool is closed
            try:
                async with asyncio.timeout(timeout):
                    while any(member.holds for member in self._members):
                        await self._settled.wait()
            except TimeoutError:
                reason = f"was stopped when pool.close(timeout={timeout:g}) ran out"
                for member in self._members:
                    if member.holds:
                        log.warning("worker %r of a pool %s, in the middle of a call", member.name, reason)
                        member.client._connection.link.terminate(reason)
            members = list(self._members)
            for member in members:
                self._leave(member)
            await asyncio.gather(*(member.client.close() for member in members), return_exceptions=True)
            if members:
                log.info("pool of %s closed, its %d workers stopped", self._service.__qualname__, len(members))
        finally:
            self._closing.set_result(None)

    async def __aenter__(self) -> Self:
        # Self, not Pool: ``async with await Service.pool(...) as p`` keeps the service type for checkers.
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        else:
            names = ", ".join(repr(member.name) for member in self._members)
            state = f"workers {names}" if names else "no worker yet"
            if self._starting:
                state += f", {len(self._starting)} starting"
            waiting = len(self._queue) + len(self._blocked)
            if waiting:
                state += f", {waiting} calls waiting"
        sizing = f"{self._least}" if self._most == self._least else f"{self._least} to {self._most}"
        return f"<{type(self).__qualname__} of {sizing} for {self._service.__qualname__}: {state}>"

    # ---- the queue: a call finds a worker -------------------------------------------------------------------------

    def _enter(self, where: str) -> _Waiter:
        """Line a call up for a worker: handed an idle one at once, else queued (or, the queue full, held before it)."""
        if self._closed:
            raise WorkerClosedError(f"cannot call {where}: the pool was closed")
        if not self._members and not self._starting and self._broken is not None:
            raise WorkerClosedError(f"cannot call {where}: the pool has no worker left ({self._broken})")
        waiter = _Waiter(time.monotonic())
        idle = self._idle() if not self._queue and not self._blocked else None
        if idle is not None:
            self._engage(idle, waiter)
        elif self._maxQueue is None or len(self._queue) < self._maxQueue:
            self._queue.append(waiter)
            self._grow()
        else:
            self._blocked.append(waiter)
        return waiter

    async def _wait(self, waiter: _Waiter) -> _Member:
        """The worker handed to ``waiter``; a call cancelled while it waits leaves the queue (or frees the worker
        handed to it meanwhile)."""
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self._free(future.result())
            else:
                self._drop(waiter)
            raise

    def _hasRoom(self) -> bool:
        """Whether a call entering now would take a worker or a place in the queue (a map reads its next item then)."""
        if self._blocked:
            return False
        return self._maxQueue is None or len(self._queue) < self._maxQueue or self._idle() is not None

    def _idle(self) -> _Member | None:
        # The first in joining order: the first workers stay busy, those above n fall idle and stop.
        for member in self._members:
            if not member.holds:
                return member
        return None

    def _engage(self, member: _Member, waiter: _Waiter) -> None:
        now = time.monotonic()
        self._hold(member, now)
        waited = now - waiter.since
        self._waits.append(waited)
        self._maxWait = max(self._maxWait, waited)
        waiter.future.set_result(member)

    def _hold(self, member: _Member, now: float | None = None) -> None:
        if not member.holds:
            member.busySince = time.monotonic() if now is None else now
            self._stopIdleTimer(member)
        member.holds += 1

    def _free(self, member: _Member) -> None:
        """A call (or broadcast) on ``member`` ended: the worker takes the next waiting call, or falls idle."""
        member.holds -= 1
        if member.holds:
            return
        member.busyTotal += time.monotonic() - member.busySince
        self._settled.fire()
        if member in self._members and not self._closed:
            self._handOut(member)

    def _handOut(self, member: _Member) -> None:
        """Give an idle ``member`` the first waiting call, or let it idle (and stop, if above ``n``, after
        ``idleTimeout``)."""
        while self._queue or self._blocked:
            waiter = (self._queue or self._blocked).popleft()
            if not waiter.future.done():  # else cancelled while waiting
                self._engage(member, waiter)
                self._admit()
                return
        if self._idleTimeout is not None and self._members.index(member) >= self._least:  # one the pool grew by
            member.idleTimer = asyncio.get_running_loop().call_later(self._idleTimeout, self._idleOut, member)
        self._room.fire()

    def _admit(self) -> None:
        """Let calls held before a full queue into it, as far as there is room; maps may read items again."""
        while self._blocked and (self._maxQueue is None or len(self._queue) < self._maxQueue):
            self._queue.append(self._blocked.popleft())
        self._grow()
        self._room.fire()

    def _drop(self, waiter: _Waiter) -> None:
        for line in (self._queue, self._blocked):
            if waiter in line:
                line.remove(waiter)
        self._admit()

    def _failWaiting(self, error: WorkerClosedError) -> None:
        waiting = [*self._queue, *self._blocked]
        self._queue.clear()
        self._blocked.clear()
        for waiter in waiting:
            if not waiter.future.done():
                waiter.future.set_exception(error)

    def _record(self, outcome: str, count: int, ran: float | None) -> None:
        """Count ``count`` calls that ended as ``outcome``; ``ran``: how long they held their worker."""
        self._counts[outcome] += count
        if ran is not None:
            self._runs.append(ran)
            self._maxRun = max(self._maxRun, ran)

    # ---- growing, shrinking, replacing ----------------------------------------------------------------------------

    def _grow(self) -> None:
        """Start workers for the calls waiting, up to ``maxSize`` (each worker started takes one of them)."""
        waiting = len(self._queue) + len(self._blocked)
        while (
            not self._closed
            and self._broken is None
            and len(self._starting) < waiting
            and len(self._members) + len(self._starting) < self._most
        ):
            self._bring("started for calls waiting")

    def _bring(self, why: str) -> None:
        task = asyncio.ensure_future(self._startOne(why))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _startOne(self, why: str) -> None:
        """Start a worker, run the pool's broadcasts on it, in order, then let it take calls."""
        try:
            client = await self._spawn()
        except Exception as error:
            self._cannotStart(f"starting a worker failed: {type(error).__name__}: {error}")
            return
        try:
            done = 0
            while done < len(self._broadcasts):  # broadcasts made meanwhile included
                entry = self._broadcasts[done]
                done += 1
                if not entry.failed:
                    await self._broadcastTo(client, entry)
        except Exception as error:
            await client.close()
            self._cannotStart(f"worker {client.workerName!r} failed a broadcast: {type(error).__name__}: {error}")
            return
        except BaseException:
            await client.close()
            raise
        if self._closed:
            await client.close()
            return
        self._starting.discard(asyncio.current_task())  # joined: no longer starting
        self._adopt(client, why)

    def _cannotStart(self, why: str) -> None:
        log.error("a pool of %s could not start a worker (%s); it starts no more", self._service.__qualname__, why)
        self._broken = why
        self._starting.discard(asyncio.current_task())  # over: not starting any more
        if not self._members and not self._starting:
            self._failWaiting(WorkerClosedError(f"the pool has no worker left ({why})"))
            self._room.fire()

    def _adopt(self, client: ServiceClient, why: str) -> None:
        member = _Member(client, time.monotonic())
        self._members.append(member)
        client._connection.link.watchers.append(lambda reason: self._lost(member, reason))
        log.info(
            "worker %r of a pool of %s %s (%d serving)",
            member.name,
            self._service.__qualname__,
            why,
            len(self._members),
        )
        self._handOut(member)

    def _lost(self, member: _Member, reason: str) -> None:
        if self._closed or member not in self._members:
            return
        self._leave(member)
        self._stopLater(member)  # removes the dead worker's script element
        if len(self._members) + len(self._starting) < self._least:
            log.warning("worker %r of a pool %s; starting another", member.name, reason)
            self._bring(f"started to replace {member.name!r}")
        else:
            log.warning("worker %r of a pool %s; %d workers go on", member.name, reason, self.size)
            self._grow()

    def _idleOut(self, member: _Member) -> None:
        member.idleTimer = None
        if self._closed or member.holds or member not in self._members or self._members.index(member) < self._least:
            return  # the first n workers stay (one above n moves down when one of them dies)
        self._leave(member)
        log.info(
            "worker %r of a pool stopped after %g s idle (%d serving)",
            member.name,
            self._idleTimeout,
            len(self._members),
        )
        self._stopLater(member)

    def _leave(self, member: _Member) -> None:
        """Take ``member`` out of the pool, keeping its times for :meth:`stats`."""
        self._stopIdleTimer(member)
        self._members.remove(member)
        now = time.monotonic()
        self._pastBusy += member.busyUntil(now)
        self._pastAlive += now - member.born

    def _stopLater(self, member: _Member) -> None:
        task = asyncio.ensure_future(member.client.close())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    @staticmethod
    def _stopIdleTimer(member: _Member) -> None:
        if member.idleTimer is not None:
            member.idleTimer.cancel()
            member.idleTimer = None

    # ---- calls and streams ----------------------------------------------------------------------------------------

    def _where(self, method: str) -> str:
        return f"{self._service.__qualname__}.{method}() on a pool of {self.size} workers"

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call[Any]:
        return Call(self._run, self._timeout, self._where(method), method, args, kwargs)

    async def _run(self, call: Call[Any], method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        member = await self._wait(self._enter(call.where))
        began = time.monotonic()
        inner = member.client._call(method, args, kwargs)
        inner.timeout = call.timeout
        outcome = "failed"
        try:
            result = await inner
            outcome = "completed"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            call.timing = inner.timing
            self._record(outcome, 1, time.monotonic() - began)
            self._free(member)

    def _stream(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Stream[Any]:
        return Stream(_PoolStream(self, method, args, kwargs), self._timeout, self._where(method))


async def _collect(call: Call[list[Any]], fanout: _Fanout) -> list[Any]:
    """Run a :meth:`Pool.map`: every item's result, in input order."""
    fanout.start()
    try:
        async with asyncio.timeout(call.timeout) as deadline:
            while fanout.lanes and fanout.error is None:
                await fanout.changed.wait()
    except TimeoutError:
        fanout.stop()
        if not deadline.expired():
            raise
        raise TimeoutError(
            f"{fanout.where} did not finish within {call.timeout:g} s ({fanout.finished} items done, "
            f"the {fanout.pulled - fanout.finished} in flight cancelled); no more items were sent"
        ) from None
    finally:
        fanout.stop()
    if fanout.error is not None:
        raise fanout.error
    return [fanout.results.pop(index) for index in range(fanout.pulled)]


class _Zip:
    """The argument tuples of a map: one item of each iterable, sync or ``async``, until the shortest ends (``zip``)."""

    def __init__(self, iterables: tuple[Iterable[Any] | AsyncIterable[Any], ...]) -> None:
        self.sources: list[tuple[Any, bool]] = []
        for position, iterable in enumerate(iterables, start=1):
            if isinstance(iterable, Iterable):
                self.sources.append((iter(iterable), False))
            elif isinstance(iterable, AsyncIterable):
                self.sources.append((aiter(iterable), True))
            else:
                raise TypeError(
                    f"map's iterable {position} must be iterable or async iterable, got {type(iterable).__qualname__}"
                )

    async def next(self) -> tuple[Any, ...] | None:
        """The next tuple of arguments, or ``None`` once an iterable has ended."""
        items = []
        for source, isAsync in self.sources:
            try:
                items.append(await anext(source) if isAsync else next(source))
            except (StopIteration, StopAsyncIteration):
                return None
        return tuple(items)


class _Fanout:
    """The items of one map on their way: lanes (a few tasks, never one per item) that each read a chunk of items,
    wait for a worker and send the chunk to it in one message, until the items run out or one fails.

    Lanes number one per worker the pool may have plus one per place in its queue, so a map over a generator holds
    at most the items running and those waiting in the queue; an ``imap`` whose results are not taken yet holds at
    most a window of them too.
    """

    def __init__(
        self,
        pool: Pool[Any],
        name: str,
        function: Callable[..., Any],
        items: _Zip,
        chunksize: int,
        ordered: bool,
        windowed: bool,
    ) -> None:
        service = pool._service
        self.pool = pool
        self.owner = f"{service.__qualname__}.{name}()"
        self.function = function
        self.target = protocol.ServiceTarget(service.__qualname__, service.__module__, name)
        self.items = items
        self.chunksize = chunksize
        self.ordered = ordered
        kind = "map" if not windowed else "imap" if ordered else "imapUnordered"
        self.where = f"{kind}({service.__qualname__}.{name}) on a pool of {pool.size} workers"
        queue = pool.maxQueue if pool.maxQueue is not None else pool.maxSize
        self.laneCount = pool.maxSize + queue
        self.window = 2 * self.laneCount * chunksize if windowed else None
        self.lanes: set[asyncio.Task[None]] = set()
        self.pulled = 0  # items read from the iterables
        self.finished = 0  # items answered
        self.taken = 0  # results handed to the consumer (imap, imapUnordered)
        self.exhausted = False
        self.results: dict[int, Any] = {}  # by index: map and imap
        self.arrived: deque[Any] = deque()  # in completion order: imapUnordered
        self.error: BaseException | None = None
        self.changed = _Signal()  # a chunk ended, a lane ended, a failure: for the consumer
        # One lane reads at a time, from the room check to entering the queue: an async iterable is read with awaits,
        # and the queue must not fill between a lane's check and its entry.
        self.reading = asyncio.Lock()
        self.stopped = False

    def start(self) -> None:
        for _ in range(self.laneCount):
            lane = asyncio.ensure_future(self._lane())
            self.lanes.add(lane)
            lane.add_done_callback(self._laneEnded)

    def stop(self) -> None:
        """Send no more items and cancel those in flight in their workers; idempotent."""
        self.stopped = True
        for lane in list(self.lanes):
            with contextlib.suppress(RuntimeError):  # from __del__ after the loop closed: nothing runs any more
                lane.cancel()

    def _laneEnded(self, lane: asyncio.Task[None]) -> None:
        self.lanes.discard(lane)
        self.changed.fire()

    async def _pull(self) -> list[tuple[Any, ...]]:
        chunk: list[tuple[Any, ...]] = []
        while len(chunk) < self.chunksize:
            args = await self.items.next()
            if args is None:
                self.exhausted = True
                break
            checkMapItem(self.function, self.owner, self.pulled + len(chunk), args)
            chunk.append(args)
        return chunk

    def _ready(self) -> bool:
        """Whether a lane may read its next chunk: the pool has room, and the consumer is not a window behind."""
        if self.window is not None and self.pulled - self.taken >= self.window:
            return False
        return self.pool._hasRoom()

    async def _lane(self) -> None:
        pool = self.pool
        try:
            while not self.exhausted and not self.stopped:
                async with self.reading:
                    while not self._ready():
                        await pool._room.wait()
                    if self.exhausted or self.stopped:
                        return
                    if pool._closed:
                        raise WorkerClosedError(f"cannot go on with {self.where}: the pool was closed")
                    first = self.pulled
                    chunk = await self._pull()
                    self.pulled += len(chunk)
                    if not chunk:
                        return
                    waiter = pool._enter(self.where)
                await self._send(first, chunk, waiter)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self._fail(error)

    async def _send(self, first: int, chunk: list[tuple[Any, ...]], waiter: _Waiter) -> None:
        pool = self.pool
        member = await pool._wait(waiter)
        began = time.monotonic()
        connection = member.client._connection
        each = f"{self.owner} on worker {member.name!r}"
        call: Call[list[Any]] = Call(
            connection.runMap, pool.timeout, f"{each}, map items {first} to {first + len(chunk) - 1}",
            self.target, chunk, each, first,
        )  # fmt: skip
        try:
            values = await call
        except asyncio.CancelledError:
            pool._record("cancelled", len(chunk), None)
            raise
        except BaseException:
            pool._record("failed", 1, time.monotonic() - began)
            pool._record("cancelled", len(chunk) - 1, None)
            raise
        finally:
            pool._free(member)
        pool._record("completed", len(chunk), time.monotonic() - began)
        self.finished += len(chunk)
        if self.ordered:
            for offset, value in enumerate(values):
                self.results[first + offset] = value
        else:
            self.arrived.extend(values)
        self.changed.fire()

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.stop()
        self.changed.fire()

    def took(self) -> None:
        """The consumer took a result: a lane a window ahead may read more."""
        self.taken += 1
        self.pool._room.fire()


class PoolResults[T](AsyncIterator[T]):
    """The results of :meth:`Pool.imap` or :meth:`Pool.imapUnordered`, an async iterator.

    Nothing is sent until the first ``async for`` step. :meth:`withTimeout` bounds the whole run. Leaving the loop
    early (``break``, an exception, cancelling the task that runs it), :meth:`aclose` or leaving
    ``async with pool.imap(...) as results`` stops it: the items in flight are cancelled in their workers and no more
    are sent. The first call that fails stops the rest; its exception is raised after the results that were in before
    it (for ``imap``, those in input order before the first gap).
    """

    def __init__(self, fanout: _Fanout) -> None:
        self._fanout = fanout
        self.timeout: float | None = None
        """Seconds the whole run may take before ``TimeoutError``; ``None`` (the default) waits for ever."""
        self.where = fanout.where
        """What runs, as errors name it."""
        self.received = 0
        """How many results were handed out so far."""
        self._state = "new"  # new -> open -> ended | closed
        self._deadline: float | None = None

    def withTimeout(self, seconds: float | None) -> PoolResults[T]:
        """Bound the whole run to ``seconds`` (``None``: wait for ever); returns the results object itself."""
        if self._state != "new":
            raise RuntimeError(f"{self.where}: withTimeout() must come before the results are iterated")
        if seconds is not None and (isinstance(seconds, bool) or not seconds > 0):
            raise ValueError(f"{self.where}: a timeout must be a positive number of seconds or None, got {seconds!r}")
        self.timeout = seconds
        return self

    def __aiter__(self) -> AsyncIterator[T]:
        return LoopOver(self)

    async def __anext__(self) -> T:
        fanout = self._fanout
        if self._state == "new":
            self._state = "open"
            if self.timeout is not None:
                self._deadline = asyncio.get_running_loop().time() + self.timeout
            fanout.start()
        if self._state != "open":
            raise StopAsyncIteration
        try:
            async with asyncio.timeout_at(self._deadline) as deadline:
                while True:
                    if fanout.ordered and self.received in fanout.results:
                        item = fanout.results.pop(self.received)
                        break
                    if not fanout.ordered and fanout.arrived:
                        item = fanout.arrived.popleft()
                        break
                    if fanout.error is not None:
                        raise fanout.error
                    if not fanout.lanes and fanout.exhausted:
                        self._state = "ended"
                        raise StopAsyncIteration
                    await fanout.changed.wait()
        except TimeoutError:
            self.close()
            if not deadline.expired():
                raise
            raise TimeoutError(
                f"{self.where} did not finish within {self.timeout:g} s ({self.received} results taken, "
                f"{fanout.finished} in); the items in flight were cancelled and no more were sent"
            ) from None
        except BaseException:
            self.close()
            raise
        self.received += 1
        fanout.took()
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Stop: cancel the items in flight in their workers, send no more; later iteration ends at once."""
        self.close()

    def close(self) -> None:
        """:meth:`aclose` for code that cannot await."""
        if self._state == "open":
            self._fanout.stop()
        if self._state != "ended":
            self._state = "closed"

    async def __aenter__(self) -> PoolResults[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __await__(self) -> Any:
        raise TypeError(f"{self.where} yields its results: iterate it with 'async for', or use map() for a list")

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "open":
            self._fanout.stop()

    def __repr__(self) -> str:
        return f"<PoolResults {self.where}, {self._state}, {self.received} results taken>"


class _PoolStream:
    """A stream of a pool: it waits for a free worker like a call, holds it until the stream ends, and is that
    worker's stream meanwhile."""

    def __init__(self, pool: Pool, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.pool = pool
        self.method = method
        self.args = args
        self.kwargs = kwargs
        self.source: Any = None
        self.member: _Member | None = None

    async def open(self) -> None:
        self.member = await self.pool._wait(self.pool._enter(self.pool._where(self.method)))
        self.source = streamOf(self.member.client, self.method, self.args, self.kwargs)
        try:
            await self.source.open()
        except BaseException:
            self._release("failed")
            raise

    async def next(self, timeout: float | None) -> tuple[bool, Any]:
        try:
            result: tuple[bool, Any] = await self.source.next(timeout)
        except asyncio.CancelledError:
            self._release("cancelled")
            raise
        except BaseException:
            self._release("failed")
            raise
        if not result[0]:
            self._release("completed")
        return result

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        self._release("cancelled")

    def _release(self, outcome: str) -> None:
        member, self.member = self.member, None
        if member is not None:
            self.pool._record(outcome, 1, time.monotonic() - member.busySince)
            self.pool._free(member)


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
