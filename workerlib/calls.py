"""One call on its way: the awaitable a client method returns, its deadline and its timing; and a stream of items."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CallTiming:
    """Where the time of one call went, in seconds.

    ``argumentTransfer`` runs from the call on the main thread until the worker starts the method: encoding the
    arguments, crossing to the worker, decoding them there. ``execution`` is the method itself. ``returnTransfer``
    runs from the method's end until the result is decoded on the main thread. Main thread and worker share one clock
    (``performance.timeOrigin + performance.now()``), so the three add up to ``total``.
    """

    argumentTransfer: float
    execution: float
    returnTransfer: float
    total: float

    def __str__(self) -> str:
        return (
            f"{self.total * 1000:.2f} ms (arguments {self.argumentTransfer * 1000:.2f} ms, "
            f"execution {self.execution * 1000:.2f} ms, return {self.returnTransfer * 1000:.2f} ms)"
        )


def timingOf(began: float, started: float, finished: float, ended: float) -> CallTiming:
    """The :class:`CallTiming` of a call from its four instants, in milliseconds on the clock threads share."""

    def seconds(start: float, end: float) -> float:
        return max(end - start, 0.0) / 1000.0  # clocks of two threads may disagree by a hair

    return CallTiming(
        argumentTransfer=seconds(began, started),
        execution=seconds(started, finished),
        returnTransfer=seconds(finished, ended),
        total=seconds(began, ended),
    )


class Call[T](Coroutine[Any, Any, T]):
    """What calling a client method returns: a coroutine of the result, with a deadline and timing of its own.

    Like any coroutine, nothing is sent until it is awaited or scheduled (``asyncio.gather``, ``create_task``,
    ``TaskGroup``). Before that, :meth:`withTimeout` sets this call's deadline, overriding the client's default;
    afterwards :attr:`timing` says where the time went::

        call = calculator.add(1, 2)
        result = await call.withTimeout(2.0)
        print(call.timing)
    """

    __slots__ = ("_args", "_run", "_running", "_stamps", "_timing", "timeout", "where")

    def __init__(
        self, run: Callable[..., Coroutine[Any, Any, T]], timeout: float | None, where: str, *args: Any
    ) -> None:
        # ``run(call, *args)`` is the coroutine doing the work, made when the call is first awaited: a bound method
        # and its arguments rather than a closure made for every call.
        self._run = run
        self._args = args
        self.timeout = timeout
        """Seconds to wait for the answer before raising ``TimeoutError``; ``None`` waits for ever."""
        self.where = where
        """What is called, as errors name it: ``Calculator.add() on worker 'calc'``."""
        self._running: Coroutine[Any, Any, T] | None = None
        self._stamps: tuple[float, float, float, float] | None = None
        self._timing: CallTiming | None = None

    @property
    def timing(self) -> CallTiming | None:
        """Where the time of this call went; ``None`` until the worker has answered (with a result or with the
        method's exception)."""
        if self._timing is None and self._stamps is not None:
            self._timing = timingOf(*self._stamps)  # worked out when asked: most calls are never asked
        return self._timing

    @timing.setter
    def timing(self, timing: CallTiming | None) -> None:
        self._timing = timing

    def answered(self, began: float, started: float, finished: float, ended: float) -> None:
        """Record the four instants of a call (milliseconds on the clock threads share): called, the method's start
        and end in the worker, the result decoded here."""
        self._stamps = (began, started, finished, ended)

    def withTimeout(self, seconds: float | None) -> Call[T]:
        """Give this call its own deadline in seconds (``None``: wait for ever); returns the call itself."""
        if self._running is not None:
            raise RuntimeError(f"{self.where}: withTimeout() must come before the call is awaited")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"{self.where}: a timeout must be a positive number of seconds or None, got {seconds!r}")
        self.timeout = seconds
        return self

    def _coroutine(self) -> Coroutine[Any, Any, T]:
        if self._running is None:
            self._running = self._run(self, *self._args)
        return self._running

    # The coroutine protocol, handed to the coroutine that does the work: asyncio.run(), create_task() and
    # TaskGroup accept only coroutines, so the call has to be one rather than a plain awaitable.
    def send(self, value: Any) -> Any:
        return self._coroutine().send(value)

    def throw(self, *error: Any) -> Any:
        return self._coroutine().throw(*error)

    def close(self) -> None:
        if self._running is not None:
            self._running.close()

    def __await__(self) -> Generator[Any, None, T]:
        return self._coroutine().__await__()

    def __aiter__(self) -> Any:
        raise TypeError(
            f"{self.where} returns one value, not a stream: await it; a service method streams its items to "
            f"'async for' when it is a generator function (a def or async def with yield)"
        )

    def __repr__(self) -> str:
        answered = self._stamps is not None or self._timing is not None
        state = "answered" if answered else "sent" if self._running is not None else "not sent"
        return f"<Call {self.where}, {state}>"


class StreamSource(Protocol):
    """What a :class:`Stream` draws on: the channel side of one streaming call (see :mod:`workerlib.client`)."""

    async def open(self) -> None:
        """Send the request."""
        ...

    async def next(self, timeout: float | None) -> tuple[bool, Any]:
        """``(True, item)`` for the next item, ``(False, None)`` at the end; raises the generator's exception."""
        ...

    def close(self) -> None:
        """Stop the worker's generator, unless it has ended; idempotent, never raises, needs no running loop."""
        ...


class Stream[T](AsyncIterator[T]):
    """What calling a client method that is a generator returns: an async iterator of the worker's items.

    ``async for item in client.method(...)`` sends the call when the loop starts and gets each item as the worker
    yields it. The worker's generator runs at most :data:`~workerlib.protocol.STREAM_AHEAD` items ahead of the loop
    (it is not asked for more until the loop takes them). Leaving the loop (``break``, ``return``, an exception,
    cancelling the task that runs it), :meth:`aclose` or leaving ``async with client.method(...) as stream`` stops the
    generator in the worker: its ``finally`` blocks run there. An exception the generator raises is raised by the
    ``async for``. A timeout (the client's default or :meth:`withTimeout`) bounds each wait for the next item, not
    the whole stream; when it passes, ``TimeoutError`` is raised and the generator stopped::

        async for row in client.rows(query):
            show(row)
    """

    def __init__(self, source: StreamSource, timeout: float | None, where: str) -> None:
        self._source = source
        self.timeout = timeout
        """Seconds to wait for each item before raising ``TimeoutError``; ``None`` waits for ever."""
        self.where = where
        """What is called, as errors name it."""
        self.received = 0
        """How many items arrived so far."""
        self._state = "new"  # new -> open -> ended | closed

    def withTimeout(self, seconds: float | None) -> Stream[T]:
        """Give this stream its own deadline per item in seconds (``None``: wait for ever); returns the stream."""
        if self._state != "new":
            raise RuntimeError(f"{self.where}: withTimeout() must come before the stream is iterated")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"{self.where}: a timeout must be a positive number of seconds or None, got {seconds!r}")
        self.timeout = seconds
        return self

    def __aiter__(self) -> AsyncIterator[T]:
        # A loop of its own: when the loop is left early, the loop object goes away and stops the worker's generator,
        # even while this stream is still referred to by a variable.
        return LoopOver(self)

    async def __anext__(self) -> T:
        if self._state == "new":
            self._state = "open"
            try:
                await self._source.open()
            except BaseException:
                self._state = "ended"
                raise
        if self._state != "open":
            raise StopAsyncIteration
        try:
            more, item = await self._source.next(self.timeout)
        except BaseException:
            self._state = "ended"
            self._source.close()  # the consumer stopped waiting (cancelled, timed out) or the generator failed
            raise
        if not more:
            self._state = "ended"
            raise StopAsyncIteration
        self.received += 1
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Stop the worker's generator (its ``finally`` blocks run there); later iteration ends at once."""
        self.close()

    def close(self) -> None:
        """:meth:`aclose` for code that cannot await."""
        if self._state == "open":
            self._source.close()
        self._state = "closed"

    async def __aenter__(self) -> Stream[T]:
        return self

    def __await__(self) -> Generator[Any, None, Any]:
        raise TypeError(f"{self.where} streams its items: iterate it with 'async for item in ...', do not await it")

    def __iter__(self) -> Any:
        raise TypeError(f"{self.where} streams its items from another thread: use 'async for', not 'for'")

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "open":
            self._source.close()

    def __repr__(self) -> str:
        return f"<Stream {self.where}, {self._state}, {self.received} items received>"


class Closeable[T](Protocol):
    """An async iterator that can be stopped from code that cannot await: a :class:`Stream`, a pool's results."""

    async def __anext__(self) -> T: ...

    def close(self) -> None: ...


class LoopOver[T](AsyncIterator[T]):
    """One ``async for`` over a :class:`Closeable` (a stream, a pool's results): stops it when the loop is left
    before the end, even while the iterated object is still referred to by a variable."""

    def __init__(self, source: Closeable[T]) -> None:
        self.source = source

    def __aiter__(self) -> LoopOver[T]:
        return self

    async def __anext__(self) -> T:
        return await self.source.__anext__()

    def __del__(self) -> None:
        self.source.close()
