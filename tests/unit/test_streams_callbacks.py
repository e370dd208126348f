"""Streams, callbacks and cancellation in plain CPython, the worker reached through an in-process loopback.

The browser layer (tests/browser/test_beyond.py) shows the same on real workers; here the edge cases run fast.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from workerlib import (
    CallbackExpiredError,
    ProtocolError,
    Stream,
    UnsendableError,
    WorkerClosedError,
    WorkerService,
    protocol,
    server,
)
from workerlib.client import Connection, clientClass

from .loopbackkit import loopbackLink, settle

events: list[str] = []
"""What the worker side did, in order: the tests read it to see generators start, run ahead and close."""


class Feeds(WorkerService):
    """Generators, sync and async, and methods that call back."""

    def count(self, n: int) -> Iterator[int]:
        try:
            for i in range(n):
                events.append(f"yield {i}")
                yield i
        finally:
            events.append("count closed")

    async def ticks(self, n: int) -> AsyncIterator[dict[str, int]]:
        try:
            for i in range(n):
                await asyncio.sleep(0)
                yield {"tick": i}
        finally:
            events.append("ticks closed")

    def failing(self) -> Iterator[int]:
        yield 1
        raise ValueError("broke after one item")

    def unsendableItem(self) -> Iterator[Any]:
        yield 1
        yield object()

    def plainReturningGenerator(self) -> Any:
        return iter(self.count(3))

    def progress(self, steps: int, report: Callable[[int], Any]) -> str:
        for step in range(steps):
            report(step)  # fire-and-forget from a sync loop
        return "done"

    async def ask(self, question: str, answer: Callable[[str], Any]) -> str:
        reply = await answer(question)
        return f"answer was {reply}"

    async def askNested(self, options: dict[str, Any]) -> Any:
        return await options["callbacks"][0](2)

    async def askFailing(self, answer: Callable[[], Any]) -> str:
        try:
            await answer()
        except KeyError as error:
            return f"caught {error!r}"
        return "no error"

    def keep(self, callback: Callable[[], Any]) -> None:
        Feeds.kept = callback

    async def callKept(self) -> str:
        try:
            Feeds.kept()
        except CallbackExpiredError as error:
            return str(error)
        return "no error"

    async def wait(self) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            events.append("wait cancelled")

    kept: Any = None


@pytest.fixture
def feeds() -> Iterator[Any]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Feeds, WorkerService)
    events.clear()
    yield clientClass(Feeds, WorkerService)(Connection(loopbackLink()))
    server.table = saved


def test_a_generator_method_returns_a_stream_with_the_items_in_order(feeds: Any) -> None:
    async def main() -> list[int]:
        stream = feeds.count(5)
        assert isinstance(stream, Stream)
        return [item async for item in stream]

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert events[-1] == "count closed"


def test_an_async_generator_streams_too(feeds: Any) -> None:
    async def main() -> list[Any]:
        return [item async for item in feeds.ticks(3)]

    assert asyncio.run(main()) == [{"tick": 0}, {"tick": 1}, {"tick": 2}]


def test_misusing_a_stream_or_a_call_says_what_to_do(feeds: Any) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match=r"Feeds.count\(\) on worker 'loop' streams its items: iterate it"):
            await feeds.count(3)
        with pytest.raises(TypeError, match="use 'async for', not 'for'"):
            for _ in feeds.count(3):
                pass
        call = feeds.callKept()
        with pytest.raises(TypeError, match=r"returns one value, not a stream: await it"):
            async for _ in call:
                pass
        call.close()

    asyncio.run(main())


def test_client_signature_is_the_generators(feeds: Any) -> None:
    assert str(inspect.signature(feeds.count)) == "(n: 'int') -> 'Iterator[int]'"  # annotations as written


def test_the_worker_runs_at_most_stream_ahead_items_ahead(feeds: Any) -> None:
    async def main() -> tuple[int, int]:
        loop = aiter(feeds.count(1000))
        first = await anext(loop)
        await settle(lambda: len(events) >= protocol.STREAM_AHEAD)
        for _ in range(50):  # give the worker every chance to run further
            await asyncio.sleep(0)
        produced = len(events)
        del loop
        return first, produced

    first, produced = asyncio.run(main())
    assert first == 0
    assert produced == protocol.STREAM_AHEAD  # one taken, and the window is the rest: never more


def test_consuming_lets_the_worker_go_on(feeds: Any) -> None:
    async def main() -> int:
        total = 0
        async for item in feeds.count(200):
            total += item
        return total

    assert asyncio.run(main()) == sum(range(200))


def test_break_closes_the_generator_in_the_worker(feeds: Any) -> None:
    async def main() -> None:
        stream = feeds.count(1000)
        async for item in stream:
            if item == 2:
                break
        await settle(lambda: "count closed" in events)
        assert [item async for item in stream] == []  # the loop left: the stream is over

    asyncio.run(main())
    assert len([e for e in events if e.startswith("yield")]) <= 3 + protocol.STREAM_AHEAD


def test_aclose_and_async_with_close_the_generator(feeds: Any) -> None:
    async def main() -> None:
        stream = feeds.ticks(1000)
        assert await anext(aiter(stream)) == {"tick": 0}
        await stream.aclose()
        await settle(lambda: "ticks closed" in events)
        events.clear()
        async with feeds.count(1000) as counting:
            await anext(aiter(counting))
        await settle(lambda: "count closed" in events)

    asyncio.run(main())


def test_an_exception_in_the_generator_is_raised_in_the_loop_after_the_items(feeds: Any) -> None:
    async def main() -> list[int]:
        got: list[int] = []

        async def consume() -> None:
            async for item in feeds.failing():
                got.append(item)

        with pytest.raises(ValueError, match="broke after one item"):
            await consume()
        return got

    assert asyncio.run(main()) == [1]


def test_an_unsendable_item_fails_the_stream_naming_it(feeds: Any) -> None:
    async def main() -> None:
        with pytest.raises(UnsendableError, match="return value: cannot send object"):
            async for _ in feeds.unsendableItem():
                pass

    asyncio.run(main())


def test_a_plain_method_returning_a_generator_says_to_make_it_a_generator(feeds: Any) -> None:
    with pytest.raises(UnsendableError, match="make the service method itself a generator"):
        asyncio.run(feeds.plainReturningGenerator())


def test_a_stream_timeout_bounds_each_wait_and_stops_the_generator(feeds: Any) -> None:
    class Slow(WorkerService):
        async def slow(self) -> AsyncIterator[int]:
            try:
                yield 1
                await asyncio.sleep(3600)
                yield 2
            finally:
                events.append("slow closed")

    server.table.addClass(Slow, WorkerService)
    slow: Any = clientClass(Slow, WorkerService)(Connection(loopbackLink()))

    async def main() -> list[int]:
        got = []

        async def consume() -> None:
            async for item in slow.slow().withTimeout(0.05):
                got.append(item)

        with pytest.raises(TimeoutError, match=r"sent no item within 0.05 s"):
            await consume()
        await settle(lambda: "slow closed" in events)
        return got

    assert asyncio.run(main()) == [1]


def test_cancelling_the_consumer_stops_the_stream(feeds: Any) -> None:
    async def main() -> None:
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in feeds.ticks(10**9):
                started.set()

        task = asyncio.ensure_future(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(lambda: "ticks closed" in events)

    asyncio.run(main())


def test_several_streams_run_at_once(feeds: Any) -> None:
    async def collect(n: int) -> list[int]:
        return [item async for item in feeds.count(n)]

    async def main() -> list[list[int]]:
        return list(await asyncio.gather(collect(30), collect(40), collect(50)))

    assert asyncio.run(main()) == [list(range(30)), list(range(40)), list(range(50))]


def test_a_dropped_stream_object_stops_the_generator(feeds: Any) -> None:
    async def main() -> None:
        stream = feeds.count(1000)
        await anext(aiter(stream))
        del stream
        gc.collect()
        await settle(lambda: "count closed" in events)

    asyncio.run(main())


def test_fire_and_forget_progress_arrives_in_order_before_the_result(feeds: Any) -> None:
    seen: list[Any] = []

    async def main() -> str:
        result: str = await feeds.progress(20, seen.append)
        seen.append(result)
        return result

    assert asyncio.run(main()) == "done"
    assert seen == [*range(20), "done"]


def test_an_awaited_callback_returns_its_value_sync_or_async(feeds: Any) -> None:
    async def shout(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    async def main() -> tuple[str, str]:
        return await feeds.ask("why", lambda q: q * 2), await feeds.ask("how", shout)

    assert asyncio.run(main()) == ("answer was whywhy", "answer was HOW")


def test_callbacks_at_any_depth_of_the_arguments(feeds: Any) -> None:
    assert asyncio.run(feeds.askNested({"callbacks": [lambda x: x * 21]})) == 42


def test_a_callbacks_exception_is_raised_where_it_is_awaited(feeds: Any) -> None:
    def missing() -> None:
        raise KeyError("nope")

    assert asyncio.run(feeds.askFailing(missing)) == "caught KeyError('nope')"


def test_a_callback_called_after_its_call_ended_fails_clearly(feeds: Any) -> None:
    async def main() -> str:
        await feeds.keep(print)
        message: str = await feeds.callKept()
        return message

    message = asyncio.run(main())
    assert "was called after the call that received it ended" in message


def test_a_callback_is_refused_in_a_reply() -> None:
    async def main() -> None:
        payload = await protocol.encodeRequest(
            protocol.Request(protocol.OP_FUNCTION, "f", (print,), {}), protocol.Beside(callbacks=[])
        )
        with pytest.raises(ProtocolError, match="refusing a callback in a payload that cannot carry one"):
            await protocol.decodeReply(payload)

    asyncio.run(main())


def test_cancelling_an_async_call_cancels_it_in_the_worker(feeds: Any) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(feeds.wait())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(lambda: "wait cancelled" in events)

    asyncio.run(main())


def test_a_closed_link_fails_an_open_stream(feeds: Any) -> None:
    async def main() -> None:
        stream = feeds.count(1000)
        loop = aiter(stream)
        await anext(loop)
        link = feeds._connection.link
        (feed,) = link.streams.values()
        await settle(lambda: len(feed.frames) == protocol.STREAM_AHEAD - 1)
        link.sever("was terminated")
        items = [await anext(loop) for _ in range(protocol.STREAM_AHEAD - 1)]  # what had arrived still comes
        assert items == list(range(1, protocol.STREAM_AHEAD))
        with pytest.raises(WorkerClosedError, match="while this stream was open"):
            await anext(loop)

    asyncio.run(main())
