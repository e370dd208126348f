"""``client.map`` and ``pool.map`` over several iterables, in plain CPython through the loopback.

The worker end of the loopback is watched: what it receives (requests, ``CANCEL`` frames) and how many messages
each way a map takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from workerlib import Call, CallTiming, UnsendableError, WorkerClosedError, WorkerService, server
from workerlib.client import Connection, Link, ServiceClient, clientClass
from workerlib.pool import poolClass
from workerlib.protocol import Frame, FrameKind
from workerlib.testing import LoopbackChannel

from .loopbackkit import loopbackLink, settle

started: list[int] = []
"""Items a held call started on, in the worker."""
stopped: list[int] = []
"""Items whose held call ended in the worker (its finally ran)."""


class Calc(WorkerService):
    def add(self, a: int, b: int = 0) -> int:
        return a + b

    async def later(self, x: int) -> int:
        await asyncio.sleep(0.001 * (x % 3))  # uneven durations: results still come back in input order
        return x

    def echo(self, value: Any) -> Any:
        return value

    def fail(self, x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    async def hold(self, x: int) -> int:
        if x == 3 and self.failThree:
            raise ValueError("three")
        started.append(x)
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append(x)
        return x

    def report(self, x: int, progress: Callable[[int], Any]) -> int:
        progress(x)
        return x

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    failThree = False


class Other(WorkerService):
    def add(self, a: int, b: int = 0) -> int:
        return a - b


class Foo:
    """Nothing can send one."""


class Rig:
    """A client on a loopback link, and what the worker end of the loopback received."""

    def __init__(self, timeout: float | None = None) -> None:
        self.link: Link = loopbackLink()
        self.main = self.link.channel
        worker = self.main.peer if isinstance(self.main, LoopbackChannel) else None
        assert worker is not None
        self.worker: LoopbackChannel = worker
        self.seen: list[Frame] = []
        handle = worker.onFrames

        def watch(frames: list[Frame]) -> None:
            self.seen.extend(frames)
            handle(frames)

        worker.onFrames = watch
        self.client: Any = clientClass(Calc, WorkerService)(Connection(self.link, timeout=timeout))

    def kinds(self, kind: int) -> list[int]:
        return [frame.id for frame in self.seen if frame.kind == kind]


@pytest.fixture
def table() -> Iterator[server.ServiceTable]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Calc, WorkerService)
    server.table.addClass(Other, WorkerService)
    started.clear()
    stopped.clear()
    Calc.failThree = False
    yield server.table
    server.table = saved


def test_results_come_in_input_order_and_several_iterables_zip(table: server.ServiceTable) -> None:
    rig = Rig()
    calc = rig.client

    async def main() -> None:
        assert await calc.map(Calc.add, range(100), range(0, 1000, 10)) == [11 * i for i in range(100)]
        assert await calc.map(Calc.add, [1, 2, 3], [10, 20]) == [11, 22]  # stops at the shortest
        assert await calc.map(Calc.add, [1, 2], iter([10, 20, 30, 40])) == [11, 22]
        assert await calc.map(Calc.add, (n for n in [5, 6])) == [5, 6]  # b's default
        assert await calc.map(Calc.later, range(30)) == list(range(30))  # answered out of order
        assert await calc.map(Calc.add, [], [1]) == []

    asyncio.run(main())
    assert rig.link.pending == {}
    assert rig.link.callbacks == {}


def test_service_and_client_methods_are_both_accepted(table: server.ServiceTable) -> None:
    calc = Rig().client

    async def main() -> None:
        assert await calc.map(Calc.add, [1], [2]) == [3]
        assert await calc.map(calc.add, [1], [2]) == [3]
        assert await calc.map(type(calc).add, [1], [2]) == [3]  # the client class's own stand-in

    asyncio.run(main())


def test_a_map_is_a_call(table: server.ServiceTable) -> None:
    calc = Rig().client

    async def main() -> Call[Any]:
        call = calc.map(Calc.add, [1, 2], [3, 4])
        assert isinstance(call, Call)
        assert repr(call) == "<Call map(Calc.add) of 2 items on worker 'loop', not sent>"
        assert await asyncio.create_task(call) == [4, 6]  # create_task takes only coroutines
        return call

    call = asyncio.run(main())
    assert isinstance(call.timing, CallTiming)
    parts = call.timing.argumentTransfer + call.timing.execution + call.timing.returnTransfer
    assert parts == pytest.approx(call.timing.total, abs=1e-6)


def test_what_is_not_a_method_of_the_service_is_refused_saying_what_to_pass(table: server.ServiceTable) -> None:
    calc = Rig().client
    with pytest.raises(TypeError, match=r"map\(\) takes a method of Calc \(Calc.name or client.name\), got <built-in"):
        calc.map(print, [1])
    with pytest.raises(TypeError, match=r"map\(\) takes a method of Calc .*got <function Other.add"):
        calc.map(Other.add, [1])  # the same name on another service
    other: Any = clientClass(Other, WorkerService)(Connection(loopbackLink()))
    with pytest.raises(TypeError, match=r"map\(\) takes a method of Calc"):
        calc.map(other.add, [1])
    with pytest.raises(TypeError, match=r"count\(\) is a generator: iterate client.count\(...\) with async for"):
        calc.map(Calc.count, [1])
    with pytest.raises(TypeError):
        calc.map(Calc.add)  # no iterable, as for the built-in map


def test_items_that_do_not_fit_the_signature_fail_at_once_naming_the_item(table: server.ServiceTable) -> None:
    rig = Rig()
    with pytest.raises(TypeError, match=r"^map item 0: Calc.add\(\): too many positional arguments"):
        rig.client.map(Calc.add, [1], [2], [3])
    with pytest.raises(TypeError, match=r"^map item 0: Calc.report\(\): missing a required argument: 'progress'"):
        rig.client.map(Calc.report, [1])
    assert rig.main.sentFrames == 0


def test_an_item_that_cannot_cross_is_named_by_its_index_and_nothing_is_sent(table: server.ServiceTable) -> None:
    rig = Rig()

    async def main() -> None:
        with pytest.raises(UnsendableError, match=r"^map item 3, args\[0\]: cannot send .*Foo"):
            await rig.client.map(Calc.echo, [1, 2, 3, Foo(), 5])
        with pytest.raises(UnsendableError, match=r"^map item 1, args\[1\]\['x'\]: cannot send .*Foo"):
            await rig.client.map(Calc.add, [1, 2], [3, {"x": Foo()}])

    asyncio.run(main())
    assert rig.main.sentFrames == 0
    assert table.instances == {}  # nothing reached the worker


def test_a_hundred_calls_take_one_message_each_way(table: server.ServiceTable) -> None:
    rig = Rig()

    async def main() -> list[int]:
        result: list[int] = await rig.client.map(Calc.add, range(100), range(100))
        return result

    assert asyncio.run(main()) == [2 * i for i in range(100)]
    assert (rig.main.sentMessages, rig.main.sentFrames) == (1, 100)
    assert (rig.worker.receivedMessages, rig.worker.receivedFrames) == (1, 100)
    assert (rig.worker.sentMessages, rig.worker.sentFrames) == (1, 100)
    assert rig.main.receivedMessages == 1


def test_callbacks_work_in_a_map(table: server.ServiceTable) -> None:
    rig = Rig()
    reported: list[int] = []

    async def main() -> list[int]:
        result: list[int] = await rig.client.map(Calc.report, range(5), [reported.append] * 5)
        await settle(lambda: len(reported) == 5)
        return result

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert sorted(reported) == [0, 1, 2, 3, 4]
    assert rig.link.callbacks == {}


def test_the_first_failure_is_raised_and_the_other_calls_are_cancelled(table: server.ServiceTable) -> None:
    rig = Rig()
    Calc.failThree = True

    async def main() -> None:
        with pytest.raises(ValueError, match="three") as raised:
            await rig.client.map(Calc.hold, range(8))
        assert "Raised in Calc.hold() on worker 'loop', map item 3" in "".join(raised.value.__notes__)
        await settle(lambda: len(stopped) == 7)
        assert await rig.client.map(Calc.fail, [1, 2]) == [1, 2]  # the client still serves
        with pytest.raises(ValueError, match="three"):
            await rig.client.map(Calc.fail, range(10))  # all answered in one message: nothing left to cancel

    asyncio.run(main())
    requests = rig.kinds(FrameKind.REQUEST)[:8]
    assert sorted(rig.kinds(FrameKind.CANCEL)) == sorted(requests[:3] + requests[4:])
    assert sorted(stopped) == [0, 1, 2, 4, 5, 6, 7]  # each held call's finally ran in the worker
    assert rig.link.pending == {}


def test_with_timeout_bounds_the_whole_map_and_cancels_what_is_left(table: server.ServiceTable) -> None:
    rig = Rig()

    async def main() -> None:
        with pytest.raises(
            TimeoutError,
            match=r"map\(Calc.hold\) of 4 items on worker 'loop' did not answer within "
            r"0.05 s \(4 of 4 calls unanswered, now cancelled\)",
        ):
            await rig.client.map(Calc.hold, range(4)).withTimeout(0.05)
        await settle(lambda: len(stopped) == 4)
        assert await rig.client.map(Calc.add, [1]).withTimeout(5) == [1]

    asyncio.run(main())
    assert len(rig.kinds(FrameKind.CANCEL)) == 4
    assert rig.link.pending == {}


def test_the_client_default_timeout_applies_to_a_map(table: server.ServiceTable) -> None:
    rig = Rig(timeout=0.05)

    async def main() -> None:
        with pytest.raises(TimeoutError, match=r"within 0.05 s \(2 of 2 calls"):
            await rig.client.map(Calc.hold, range(2))
        assert await rig.client.map(Calc.add, [1, 2]) == [1, 2]

    asyncio.run(main())


def test_cancelling_the_awaiting_task_cancels_every_pending_call(table: server.ServiceTable) -> None:
    rig = Rig()

    async def main() -> None:
        task = asyncio.ensure_future(rig.client.map(Calc.hold, range(6)))
        await settle(lambda: len(started) == 6)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(lambda: len(stopped) == 6)

    asyncio.run(main())
    assert sorted(rig.kinds(FrameKind.CANCEL)) == sorted(rig.kinds(FrameKind.REQUEST))
    assert rig.link.pending == {}


def test_a_worker_that_dies_fails_the_map(table: server.ServiceTable) -> None:
    rig = Rig()

    async def main() -> None:
        task = asyncio.ensure_future(rig.client.map(Calc.hold, range(3)))
        await settle(lambda: len(started) == 3)
        rig.link.sever("stopped (terminated or crashed)")
        with pytest.raises(WorkerClosedError, match=r"stopped .* while this call was pending"):
            await task
        with pytest.raises(WorkerClosedError, match="cannot call map"):
            await rig.client.map(Calc.add, [1])

    asyncio.run(main())


def test_a_closed_client_refuses_a_map(table: server.ServiceTable) -> None:
    rig = Rig()

    async def main() -> None:
        await rig.client.close()
        with pytest.raises(WorkerClosedError, match="the client was closed"):
            await rig.client.map(Calc.add, [1])

    asyncio.run(main())
    assert rig.main.sentFrames == 0


# ---- pool.map over several iterables ----------------------------------------------------------------------------


async def spawn() -> ServiceClient:
    link = loopbackLink("worker")
    return clientClass(Calc, WorkerService)(Connection(link, onClose=lambda: link.sever("was closed")))


def test_pool_map_zips_several_iterables(table: server.ServiceTable) -> None:
    async def main() -> None:
        pool: Any = poolClass(Calc, WorkerService)(2, spawn, None)
        await pool._start()
        assert await pool.map(Calc.add, range(10), range(0, 100, 10)) == [11 * i for i in range(10)]
        assert await pool.map(pool.add, [1, 2, 3], [10, 20]) == [11, 22]
        assert await pool.map(Calc.add, [4, 5]) == [4, 5]
        with pytest.raises(TypeError, match=r"takes a method of Calc \(Calc.name or pool.name\)"):
            await pool.map(Other.add, [1], [2])
        await pool.close()

    asyncio.run(main())
