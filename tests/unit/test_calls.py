"""Calls in plain CPython through the loopback: deadlines, cancellation, a worker that goes away, timing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from workerlib import Call, CallTiming, WorkerClosedError, WorkerService, server
from workerlib.client import Connection, Link, clientClass

from .loopbackkit import loopbackLink


class Sleeper(WorkerService):
    async def sleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    def echo(self, value: Any) -> Any:
        return value


@pytest.fixture
def link() -> Iterator[Link]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Sleeper, WorkerService)
    yield loopbackLink()
    server.table = saved


def client(link: Link, timeout: float | None = None) -> Any:
    return clientClass(Sleeper, WorkerService)(Connection(link, timeout=timeout))


def test_a_call_is_a_coroutine_with_its_own_timing(link: Link) -> None:
    sleeper = client(link)

    async def main() -> tuple[Call[Any], Any]:
        call = sleeper.sleep(0.02)
        assert isinstance(call, Call)
        assert call.timing is None
        result = await asyncio.create_task(call)  # create_task takes only coroutines
        return call, result

    call, result = asyncio.run(main())
    assert result == 0.02
    assert isinstance(call.timing, CallTiming)
    assert call.timing.execution >= 0.02
    parts = call.timing.argumentTransfer + call.timing.execution + call.timing.returnTransfer
    assert parts == pytest.approx(call.timing.total, abs=1e-6)
    assert repr(call) == "<Call Sleeper.sleep() on worker 'loop', answered>"


def test_the_default_timeout_raises_timeout_error_and_later_calls_work(link: Link) -> None:
    sleeper = client(link, timeout=0.05)

    async def main() -> Any:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"Sleeper.sleep\(\) on worker 'loop' did not answer within 0.05 s"):
            await sleeper.sleep(1.0)
        assert time.monotonic() - started < 0.5
        assert link.pending == {}
        return await sleeper.sleep(0.01)

    assert asyncio.run(main()) == 0.01


def test_with_timeout_overrides_the_default_for_one_call(link: Link) -> None:
    sleeper = client(link, timeout=0.05)

    async def main() -> None:
        assert await sleeper.sleep(0.1).withTimeout(2.0) == 0.1
        assert await sleeper.sleep(0.1).withTimeout(None) == 0.1
        with pytest.raises(TimeoutError, match=r"within 0\.01 s"):
            await client(link).sleep(1.0).withTimeout(0.01)

    asyncio.run(main())


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_with_timeout_refuses_what_is_not_a_positive_duration(link: Link, bad: float) -> None:
    call = client(link).echo(1)
    with pytest.raises(ValueError, match="a timeout must be a positive number of seconds or None"):
        call.withTimeout(bad)
    call.close()


def test_with_timeout_after_the_call_started_is_an_error(link: Link) -> None:
    async def main() -> None:
        call = client(link).echo(1)
        assert await call == 1
        with pytest.raises(RuntimeError, match="must come before the call is awaited"):
            call.withTimeout(1)

    asyncio.run(main())


def test_cancelling_the_caller_drops_the_late_answer(link: Link) -> None:
    sleeper = client(link)

    async def main() -> None:
        task = asyncio.create_task(sleeper.sleep(0.2))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert link.pending == {}
        await asyncio.sleep(0.25)  # the worker finishes its sleep: its answer must go nowhere, quietly
        assert await sleeper.echo("still fine") == "still fine"

    asyncio.run(main())


def test_a_worker_that_goes_away_fails_pending_calls_and_later_ones_fast(link: Link) -> None:
    sleeper = client(link)

    async def main() -> None:
        pending = asyncio.gather(sleeper.sleep(5), sleeper.sleep(5), return_exceptions=True)
        await asyncio.sleep(0.01)
        link.sever("stopped (terminated or crashed)")
        outcomes = await asyncio.wait_for(pending, 1)
        for outcome in outcomes:
            assert isinstance(outcome, WorkerClosedError)
            assert str(outcome) == "worker 'loop' stopped (terminated or crashed) while this call was pending"
        with pytest.raises(WorkerClosedError, match=r"cannot call Sleeper\.echo"):
            await sleeper.echo(1)

    asyncio.run(main())


def test_connect_refuses_a_timeout_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds or None, got 0"):
        asyncio.run(Sleeper.connect(timeout=0))
