"""Pools in plain CPython: workers are loopback sessions in this thread, started by a stand-in for ``spawn``.

The browser layer (tests/browser/test_beyond.py) starts real workers; here the choosing, ordering, failing, closing
and replacing run fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from workerlib import Pool, WorkerClosedError, WorkerService
from workerlib.client import ServiceClient
from workerlib.pool import poolClass

from .loopbackkit import LoopbackSpawner, settle


class Squares(WorkerService):
    """A service whose calls say which worker ran them."""

    async def square(self, x: int) -> int:
        await asyncio.sleep(0.001 * (x % 3))  # uneven durations: results must still come back in input order
        return x * x

    def fail(self, x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    async def hold(self) -> None:
        await asyncio.sleep(3600)

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


async def makePool(n: int, spawner: LoopbackSpawner, timeout: float | None = None) -> Any:
    pool = poolClass(Squares, WorkerService)(n, spawner, timeout)
    await pool._start()
    return pool


def test_map_keeps_input_order_and_uses_every_worker() -> None:
    spawner = LoopbackSpawner(Squares)

    async def main() -> tuple[list[int], list[int]]:
        pool = await makePool(3, spawner)
        results = await pool.map(Squares.square, range(30))
        again = await pool.map(pool.square, [5, 6])
        await pool.close()
        return results, again

    results, again = asyncio.run(main())
    assert results == [x * x for x in range(30)]
    assert again == [25, 36]
    sent = [client._connection.link.channel.sentFrames for client in spawner.started]
    assert sum(sent) == 32
    assert min(sent) >= 1, sent  # every worker took its share


def test_a_call_goes_to_an_idle_worker() -> None:
    spawner = LoopbackSpawner(Squares)

    async def main() -> None:
        pool = await makePool(2, spawner)
        held = asyncio.ensure_future(pool.hold())
        await asyncio.sleep(0.01)
        busy = [client._busy for client in pool.clients]
        assert sorted(busy) == [0, 1]
        assert pool.stats().busy == 1
        assert await pool.square(4) == 16
        idle = pool.clients[busy.index(0)]
        assert idle._connection.link.channel.sentFrames == 1  # the square, and nothing else: the hold went elsewhere
        held.cancel()
        await pool.close()

    asyncio.run(main())


def test_map_raises_the_first_failure_and_stops() -> None:
    async def main() -> None:
        pool = await makePool(2, LoopbackSpawner(Squares))
        with pytest.raises(ValueError, match="three"):
            await pool.map(Squares.fail, range(10))
        assert await pool.map(Squares.fail, [1, 2]) == [1, 2]  # the pool still serves
        await pool.close()

    asyncio.run(main())


def test_map_refuses_what_is_not_one_of_its_methods() -> None:
    async def main() -> None:
        pool = await makePool(1, LoopbackSpawner(Squares))
        with pytest.raises(TypeError, match="map\\(\\) takes a method of Squares"):
            await pool.map(print, [1])
        with pytest.raises(TypeError, match="count\\(\\) is a generator"):
            await pool.map(Squares.count, [1])
        await pool.close()

    asyncio.run(main())


def test_streams_work_through_a_pool() -> None:
    async def main() -> list[int]:
        async with await makePool(2, LoopbackSpawner(Squares)) as pool:
            return [item async for item in pool.count(5)]

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]


def test_close_stops_every_worker_and_later_calls_fail() -> None:
    spawner = LoopbackSpawner(Squares)

    async def main() -> None:
        pool = await makePool(3, spawner)
        assert pool.size == 3
        await pool.close()
        assert sorted(spawner.closed) == ["worker-1", "worker-2", "worker-3"]
        with pytest.raises(WorkerClosedError, match="the pool was closed"):
            await pool.square(2)
        with pytest.raises(WorkerClosedError):
            await pool.map(Squares.square, [1])

    asyncio.run(main())


def test_async_with_closes_the_pool() -> None:
    spawner = LoopbackSpawner(Squares)

    async def main() -> None:
        async with await makePool(2, spawner) as pool:
            assert isinstance(pool, Pool)
            assert await pool.square(3) == 9
        assert len(spawner.closed) == 2

    asyncio.run(main())


def test_a_dead_worker_fails_its_calls_and_is_replaced() -> None:
    spawner = LoopbackSpawner(Squares)

    async def main() -> None:
        pool = await makePool(2, spawner)
        victim = pool.clients[0]
        pending = asyncio.ensure_future(victim.hold())
        await asyncio.sleep(0.01)
        victim._connection.link.sever("stopped (terminated or crashed)")
        with pytest.raises(WorkerClosedError, match="while this call was pending"):
            await pending
        await settle(lambda: len(pool.clients) == 2)
        assert victim not in pool.clients
        assert [client.workerName for client in pool.clients] == ["worker-2", "worker-3"]
        assert await pool.map(Squares.square, range(6)) == [0, 1, 4, 9, 16, 25]
        await pool.close()

    asyncio.run(main())


def test_a_pool_whose_workers_all_died_waits_for_a_replacement() -> None:
    async def main() -> int:
        pool = await makePool(1, LoopbackSpawner(Squares))
        pool.clients[0]._connection.link.sever("stopped (terminated or crashed)")
        result: int = await pool.square(7)
        await pool.close()
        return result

    assert asyncio.run(main()) == 49


def test_calls_fail_when_the_last_worker_died_and_no_replacement_starts(caplog: pytest.LogCaptureFixture) -> None:
    spawner = LoopbackSpawner(Squares)

    async def broken() -> ServiceClient:
        if spawner.started:
            raise TimeoutError("no worker this time")
        return await spawner()

    async def main() -> None:
        pool = poolClass(Squares, WorkerService)(1, broken, None)
        await pool._start()
        pool.clients[0]._connection.link.sever("stopped (terminated or crashed)")
        with pytest.raises(WorkerClosedError, match=r"no worker left .*starting a worker failed: TimeoutError"):
            await pool.square(7)
        await pool.close()

    asyncio.run(main())
    assert "could not start a worker (starting a worker failed: TimeoutError: no worker this time)" in caplog.text


def test_a_worker_that_fails_to_start_stops_the_others() -> None:
    spawner = LoopbackSpawner(Squares)
    calls = 0

    async def flaky() -> ServiceClient:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TimeoutError("worker 2 did not start")
        return await spawner()

    async def main() -> None:
        with pytest.raises(TimeoutError, match="worker 2 did not start"):
            await poolClass(Squares, WorkerService)(3, flaky, None)._start()

    asyncio.run(main())
    assert sorted(spawner.closed) == ["worker-1", "worker-2"]


def test_a_service_with_a_method_named_like_a_pool_attribute_cannot_be_pooled() -> None:
    class Sized(WorkerService):  # map belongs to clients too (client.map), so a service cannot define it at all
        def size(self, x: int) -> int:
            return x

    with pytest.raises(TypeError, match="defines size, which a pool needs for itself"):
        poolClass(Sized, WorkerService)


def test_pool_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n must be a positive int"):
        asyncio.run(Squares.pool(0, "worker.py"))
