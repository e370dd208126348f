"""A pool's queue, sizing, backpressure, broadcasts, iteration, statistics and closing, in plain CPython.

Each "worker" is a loopback session in this thread with a service table of its own, so each has its own service
instance (its own state), as a real worker has. Methods wait on gates the test opens, so every ordering here is made
by the test, not by timing. The browser layer (tests/browser/test_pools.py) runs the same features on real workers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workerlib import PoolStats, WorkerClosedError, WorkerService
from workerlib.pool import POOL_NAMES, poolClass

from .loopbackkit import LoopbackSpawner

gates: dict[int, asyncio.Event] = {}
"""Per key, what the service's ``gated`` method waits for."""
started: list[int] = []
"""The keys ``gated`` was called with, in the order calls started (across workers)."""
stopped: list[int] = []
"""The keys of ``gated`` calls cancelled in their worker."""


def gate(key: int) -> asyncio.Event:
    return gates.setdefault(key, asyncio.Event())


class Jobs(WorkerService):
    """A service with state of its own per worker, and calls the test lets finish."""

    def __init__(self) -> None:
        self.text: str | None = None

    def load(self, text: str) -> int:
        self.text = text
        return len(text)

    def known(self) -> str | None:
        return self.text

    async def loadWhenOpen(self, text: str, key: int) -> int:
        """``load``, once gate ``key`` opens."""
        await gate(key).wait()
        return self.load(text)

    async def gated(self, key: int) -> int:
        started.append(key)
        try:
            await gate(key).wait()
        except asyncio.CancelledError:
            stopped.append(key)
            raise
        return key

    def add(self, a: int, b: int) -> int:
        return a + b

    def double(self, x: int) -> int:
        if x < 0:
            raise ValueError(f"negative: {x}")
        return 2 * x


@pytest.fixture(autouse=True)
def fresh() -> None:
    gates.clear()
    started.clear()
    stopped.clear()


async def makePool(n: int, spawner: LoopbackSpawner, **sizing: Any) -> Any:
    pool = poolClass(Jobs, WorkerService)(n, spawner, sizing.pop("timeout", None), **sizing)
    await pool._start()
    return pool


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``condition`` holds (checked every few milliseconds), failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.002)


def test_calls_wait_in_order_for_the_first_worker_that_is_free() -> None:
    async def main() -> None:
        pool = await makePool(1, LoopbackSpawner(Jobs))
        calls = [asyncio.ensure_future(pool.gated(key)) for key in range(3)]
        await until(lambda: started == [0])
        assert pool.stats().waiting == 2
        assert (pool.stats().busy, pool.stats().idle) == (1, 0)
        gate(0).set()
        await until(lambda: started == [0, 1])  # the worker took the call at the head of the queue
        gate(2).set()
        gate(1).set()
        assert await asyncio.gather(*calls) == [0, 1, 2]
        assert started == [0, 1, 2]
        await pool.close()

    asyncio.run(main())


def test_a_pool_grows_to_max_size_while_calls_wait_and_shrinks_when_idle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="workerlib.pool")
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(1, spawner, maxSize=3, idleTimeout=0.05)
        calls = [asyncio.ensure_future(pool.gated(key)) for key in range(5)]
        await until(lambda: len(started) == 3)  # three workers, one call each; two wait
        assert pool.size == 3
        assert len(spawner.started) == 3
        assert pool.stats().waiting == 2
        for key in range(5):
            gate(key).set()
        assert await asyncio.gather(*calls) == list(range(5))
        assert len(spawner.started) == 3  # never more than maxSize
        # The two above n stopped once idle for idleTimeout (their clients are closed right after, in a task).
        await until(lambda: pool.size == 1 and len(spawner.closed) == 2)
        assert sorted(spawner.closed) == ["worker-2", "worker-3"]
        assert await pool.double(4) == 8
        await pool.close()

    asyncio.run(main())
    assert "worker 'worker-2' of a pool of Jobs started for calls waiting (2 serving)" in caplog.text
    assert "stopped after 0.05 s idle" in caplog.text
    assert "pool of Jobs closed, its 1 workers stopped" in caplog.text


def test_growth_starts_only_what_waiting_calls_need() -> None:
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(1, spawner, maxSize=4)
        assert await pool.map(Jobs.double, [1]) == [2]  # one item: no worker started for the map's other lanes
        assert len(spawner.started) == 1
        await pool.close()

    asyncio.run(main())


def test_a_map_over_a_generator_holds_at_most_the_running_and_queued_items() -> None:
    held: list[int] = []
    pool: Any = None

    def items() -> Iterator[int]:
        for index in range(60):
            held.append(index + 1 - pool.stats().completed)  # read and not answered yet, this one included
            yield index

    async def main() -> list[int]:
        nonlocal pool
        pool = await makePool(2, LoopbackSpawner(Jobs), maxQueue=3)
        results = [value async for value in pool.imap(Jobs.double, items())]
        assert await pool.map(Jobs.double, items()) == results
        await pool.close()
        return results

    assert asyncio.run(main()) == [2 * index for index in range(60)]
    assert len(held) == 120
    assert max(held) == 2 + 3  # two running, three queued: the map reads ahead as far as that, no further


def test_a_call_made_while_the_queue_is_full_waits_to_enter_it() -> None:
    async def main() -> None:
        pool = await makePool(1, LoopbackSpawner(Jobs), maxQueue=1)
        calls = [asyncio.ensure_future(pool.gated(key)) for key in range(4)]
        await until(lambda: started == [0] and pool.stats().waiting == 3)
        assert len(pool._queue) == 1  # the rest wait to enter the queue, none fails
        for key in range(4):
            gate(key).set()
        assert await asyncio.gather(*calls) == [0, 1, 2, 3]
        await pool.close()

    asyncio.run(main())


def test_a_broadcast_reaches_every_worker_and_every_worker_started_later() -> None:
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(2, spawner, maxSize=3)
        assert await pool.broadcast(Jobs.load, "shared text") == [11, 11]
        assert [await client.known() for client in pool.clients] == ["shared text"] * 2
        # growth: two calls hold both workers, a third starts a worker, which runs the broadcast before the call
        holding = [asyncio.ensure_future(pool.gated(key)) for key in range(2)]
        await until(lambda: len(started) == 2)
        assert await pool.known() == "shared text"
        assert len(spawner.started) == 3
        # replacement of workers that died: the pool goes back to n, no further
        for key in range(2):
            gate(key).set()
        await asyncio.gather(*holding)
        for client in pool.clients[:2]:
            client._connection.link.sever("stopped (terminated or crashed)")
        await until(lambda: len(spawner.started) == 4 and len(pool.clients) == 2)
        assert await spawner.started[3].known() == "shared text"
        await pool.close()

    asyncio.run(main())


def test_a_failed_broadcast_names_the_worker_and_is_not_repeated() -> None:
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(1, spawner, maxSize=2)
        with pytest.raises(TypeError) as failure:
            await pool.broadcast(Jobs.load)
        assert "broadcast to worker 'worker-1'" in "".join(failure.value.__notes__)
        pool.clients[0]._connection.link.sever("stopped (terminated or crashed)")
        await until(lambda: len(pool.clients) == 1 and pool.clients[0].workerName == "worker-2")
        assert await pool.double(1) == 2

    asyncio.run(main())


def test_imap_keeps_input_order_and_imap_unordered_completion_order() -> None:
    async def run(unordered: bool) -> list[int]:
        started.clear()
        gates.clear()
        pool = await makePool(3, LoopbackSpawner(Jobs))
        iterate = pool.imapUnordered if unordered else pool.imap
        results = iterate(Jobs.gated, [0, 1, 2])
        order: list[int] = []
        taking = asyncio.ensure_future(_collectInto(results, order))
        await until(lambda: sorted(started) == [0, 1, 2])
        for released, key in enumerate((2, 0, 1), start=1):
            gate(key).set()
            if unordered:
                await until(lambda: len(order) == released)  # noqa: B023  (awaited before the loop moves on)
        await taking
        await pool.close()
        return order

    assert asyncio.run(run(unordered=False)) == [0, 1, 2]
    assert asyncio.run(run(unordered=True)) == [2, 0, 1]


async def _collectInto(results: Any, order: list[int]) -> None:
    async for value in results:
        order.append(value)


def test_leaving_an_imap_cancels_what_runs_and_sends_nothing_more() -> None:
    async def main() -> None:
        pool = await makePool(2, LoopbackSpawner(Jobs))
        gate(0).set()
        async for value in pool.imap(Jobs.gated, range(100)):
            assert value == 0
            break
        await until(lambda: len(stopped) == len(started) - 1)  # every call that started, but the first, cancelled
        assert len(started) <= 4  # the lanes of a pool of two: never the hundred
        assert await pool.double(5) == 10  # the workers serve the next call
        # Every item sent but the first was cancelled; one sent a moment before the break may have been cancelled in
        # the worker before its method began, so it counts here without having started there.
        stats = pool.stats()
        assert stats.completed == 2  # item 0, and the double after it
        assert len(stopped) <= stats.cancelled <= 3
        await pool.close()

    asyncio.run(main())


def test_the_first_failure_of_imap_unordered_comes_after_the_results_before_it() -> None:
    async def main() -> None:
        pool = await makePool(1, LoopbackSpawner(Jobs))
        seen: list[int] = []
        with pytest.raises(ValueError, match="negative: -1") as failure:
            await _collectInto(pool.imapUnordered(Jobs.double, [1, 2, -1, 4, 5]), seen)
        assert seen == [2, 4]
        assert "map item 2" in str(failure.value.__notes__)
        assert await pool.double(3) == 6
        await pool.close()

    asyncio.run(main())


def test_chunks_go_to_a_worker_in_one_message_each() -> None:
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(1, spawner)
        before = spawner.messages["worker-1"]
        assert await pool.map(Jobs.double, range(20), chunksize=5) == [2 * x for x in range(20)]
        assert spawner.messages["worker-1"] - before == 4
        with pytest.raises(ValueError, match="chunksize must be a positive int"):
            pool.imap(Jobs.double, range(3), chunksize=0)
        await pool.close()

    asyncio.run(main())


def test_a_map_deadline_bounds_the_whole_map_and_cancels_what_runs() -> None:
    async def main() -> None:
        pool = await makePool(2, LoopbackSpawner(Jobs))
        with pytest.raises(TimeoutError, match=r"map\(Jobs.gated\) on a pool of 2 workers did not finish within"):
            await pool.map(Jobs.gated, range(10)).withTimeout(0.05)
        await until(lambda: len(stopped) == 2)
        assert await pool.double(2) == 4
        with pytest.raises(TimeoutError, match="did not finish within"):
            async for _ in pool.imap(Jobs.gated, [100, 101]).withTimeout(0.05):
                pass
        await pool.close()

    asyncio.run(main())


def test_cancelling_the_task_awaiting_a_map_cancels_its_calls() -> None:
    async def main() -> None:
        pool = await makePool(2, LoopbackSpawner(Jobs))
        running = asyncio.ensure_future(pool.map(Jobs.gated, range(10)))
        await until(lambda: len(started) == 2)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await until(lambda: sorted(stopped) == [0, 1])
        assert len(started) == 2
        assert await pool.double(1) == 2
        await pool.close()

    asyncio.run(main())


def test_stats_add_up_to_what_ran() -> None:
    async def main() -> PoolStats:
        pool = await makePool(2, LoopbackSpawner(Jobs))
        assert await pool.map(Jobs.double, range(6)) == [0, 2, 4, 6, 8, 10]
        with pytest.raises(ValueError, match="negative"):
            await pool.double(-1)
        blocked = asyncio.ensure_future(pool.gated(7))
        await until(lambda: started == [7])
        blocked.cancel()
        await asyncio.gather(blocked, return_exceptions=True)
        stats: PoolStats = pool.stats()
        await pool.close()
        return stats

    stats = asyncio.run(main())
    assert (stats.completed, stats.failed, stats.cancelled) == (6, 1, 1)
    assert (stats.workers, stats.idle, stats.busy, stats.starting, stats.waiting) == (2, 2, 0, 0, 0)
    assert 0 <= stats.medianWait <= stats.maxWait
    assert 0 < stats.medianRun <= stats.maxRun
    assert 0 < stats.utilization < 1
    assert "6 completed, 1 failed, 1 cancelled" in str(stats)


def test_close_lets_running_calls_finish() -> None:
    async def main() -> None:
        pool = await makePool(1, LoopbackSpawner(Jobs))
        running = asyncio.ensure_future(pool.gated(1))
        waiting = asyncio.ensure_future(pool.gated(2))
        await until(lambda: started == [1])
        closing = asyncio.ensure_future(pool.close())
        with pytest.raises(WorkerClosedError, match="the pool was closed while the call waited for a worker"):
            await waiting
        assert not closing.done()
        gate(1).set()
        assert await running == 1
        await closing

    asyncio.run(main())


def test_close_with_a_timeout_stops_a_call_that_runs_past_it() -> None:
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(2, spawner)
        running = asyncio.ensure_future(pool.gated(1))
        await until(lambda: started == [1])
        began = time.monotonic()
        await pool.close(timeout=0.05)
        assert time.monotonic() - began < 2
        with pytest.raises(WorkerClosedError, match=r"pool.close\(timeout=0.05\) ran out"):
            await running
        assert sorted(spawner.closed) == ["worker-1", "worker-2"]
        with pytest.raises(WorkerClosedError, match="the pool was closed"):
            await pool.double(1)

    asyncio.run(main())


def test_sizing_arguments_are_checked() -> None:
    wrongs: list[tuple[dict[str, Any], str]] = [
        ({"maxSize": 1}, "maxSize must be an int no smaller than n"),
        ({"idleTimeout": 0}, "idleTimeout must be a positive number"),
        ({"maxQueue": -1}, "maxQueue must be an int of 0 or more"),
    ]
    for wrong, message in wrongs:
        with pytest.raises(ValueError, match=message):
            asyncio.run(Jobs.pool(2, "jobs.py", **wrong))


def test_the_guide_lists_every_name_a_pool_keeps_for_itself() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guide.rst").read_text()
    listed = guide[guide.index("``workerlib.pool.POOL_NAMES``):") :].split("A service defining")[0]
    assert sorted(re.findall(r"``(\w+)``", listed)) == sorted(POOL_NAMES), listed


def test_a_worker_dying_during_a_broadcast_is_replaced_by_one_that_runs_it() -> None:
    spawner = LoopbackSpawner(Jobs)

    async def main() -> None:
        pool = await makePool(2, spawner)
        broadcasting = asyncio.ensure_future(pool.broadcast(Jobs.loadWhenOpen, "state", 9))
        await until(lambda: all(client._busy == 1 for client in pool.clients))
        victim = pool.clients[0]
        victim._connection.link.sever("stopped (terminated or crashed)")
        gate(9).set()
        assert await broadcasting == [5]  # the worker that lived; the other has no result
        await until(lambda: len(pool.clients) == 2 and victim not in pool.clients)
        assert [await client.known() for client in pool.clients] == ["state", "state"]
        await pool.close()

    asyncio.run(main())


def test_a_config_of_its_own_has_its_urls_made_absolute_against_the_page() -> None:
    from workerlib.workers import absoluteConfig

    page = "http://host/app/index.html"
    config = {
        "interpreter": "../pyodide/pyodide.mjs",
        "files": {"./data.csv": "./data.csv", "https://cdn/x.py": "./x.py", "/lib/y.py": "./y.py"},
        "packages": ["./workerlib.toml", "numpy"],
        "js_modules": {"worker": {"./mod.js": "mod"}},
        "fetch": [{"from": "./api/", "files": ["a.json"]}],
        "sync_main_only": True,
    }
    assert absoluteConfig(config, page) == {
        "interpreter": "http://host/pyodide/pyodide.mjs",
        "files": {
            "http://host/app/data.csv": "./data.csv",
            "https://cdn/x.py": "./x.py",
            "http://host/lib/y.py": "./y.py",
        },
        "packages": ["http://host/app/workerlib.toml", "numpy"],
        "js_modules": {"worker": {"http://host/app/mod.js": "mod"}},
        "fetch": [{"from": "http://host/app/api/", "files": ["a.json"]}],
        "sync_main_only": True,
    }


def test_maps_read_async_iterables_as_lazily_as_sync_ones() -> None:
    held: list[int] = []
    pool: Any = None

    async def items(count: int) -> AsyncIterator[int]:
        for index in range(count):
            await asyncio.sleep(0)  # a slow source: the loop turns between items
            held.append(index + 1 - pool.stats().completed)
            yield index

    async def main() -> tuple[list[int], list[int], list[int]]:
        nonlocal pool
        pool = await makePool(2, LoopbackSpawner(Jobs), maxQueue=3)
        ordered = [value async for value in pool.imap(Jobs.double, items(40))]
        before = pool.stats().completed
        unordered = sorted([value async for value in pool.imapUnordered(Jobs.double, items(40), chunksize=4)])
        assert pool.stats().completed - before == 40
        mixed = await pool.map(Jobs.add, items(10), range(3))  # mixed with a sync iterable: the shortest wins
        await pool.close()
        return ordered, unordered, mixed

    ordered, unordered, mixed = asyncio.run(main())
    assert ordered == unordered == [2 * index for index in range(40)]
    assert max(held[:40]) <= 2 + 3  # two running, three queued, as with a sync generator
    assert mixed == [0, 2, 4]


def test_a_failing_async_source_fails_the_map_and_a_non_iterable_is_refused_at_once() -> None:
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise OSError("the stream broke")

    async def main() -> None:
        pool = await makePool(1, LoopbackSpawner(Jobs))
        with pytest.raises(OSError, match="the stream broke"):
            await pool.map(Jobs.double, broken())
        with pytest.raises(TypeError, match="map's iterable 2 must be iterable or async iterable, got int"):
            pool.imap(Jobs.double, [1], 5)
        assert await pool.double(2) == 4
        await pool.close()

    asyncio.run(main())
