"""One call on its way: the awaitable a client method returns, its deadline and its timing."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any


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


class Call[T](Coroutine[Any, Any, T]):
    """What calling a client method returns: a coroutine of the result, with a deadline and timing of its own.

    Like any coroutine, nothing is sent until it is awaited or scheduled (``asyncio.gather``, ``create_task``,
    ``TaskGroup``). Before that, :meth:`withTimeout` sets this call's deadline, overriding the client's default;
    afterwards :attr:`timing` says where the time went::

        call = calculator.add(1, 2)
        result = await call.withTimeout(2.0)
        print(call.timing)
    """

    def __init__(self, run: Callable[[Call[T]], Coroutine[Any, Any, T]], timeout: float | None, where: str) -> None:
        self._run = run
        self.timeout = timeout
        """Seconds to wait for the answer before raising ``TimeoutError``; ``None`` waits for ever."""
        self.where = where
        """What is called, as errors name it: ``Calculator.add() on worker 'calc'``."""
        self.timing: CallTiming | None = None
        """Set once the worker has answered (with a result or with the method's exception)."""
        self._running: Coroutine[Any, Any, T] | None = None

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
            self._running = self._run(self)
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

    def __repr__(self) -> str:
        state = "answered" if self.timing is not None else "sent" if self._running is not None else "not sent"
        return f"<Call {self.where}, {state}>"
