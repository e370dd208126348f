"""Services, the serving of calls and clients in plain CPython, the worker reached through an in-process loopback."""

from __future__ import annotations

import array
import asyncio
import inspect
import types
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from workerlib import (
    ConnectError,
    ProtocolError,
    RemoteError,
    WorkerClosedError,
    WorkerService,
    codec,
    protocol,
    server,
)
from workerlib.client import Connection, Link, ServiceClient, clientClass
from workerlib.service import _findWorker as findWorker
from workerlib.testing import loopbackPair

from .loopbackkit import loopbackLink, settle


class Greeter(WorkerService):
    """Says hello."""

    def __init__(self) -> None:
        self.count = 0

    def greet(self, name: str, *, punctuation: str = "!") -> str:
        """Greet someone."""
        self.count += 1
        return f"hello {name}{punctuation}"

    async def later(self, value: Any) -> Any:
        await asyncio.sleep(0)
        return value

    def fail(self, message: str) -> None:
        raise ValueError(message, 42)

    def failLocal(self) -> None:
        class LocalError(Exception):
            pass

        raise LocalError("from a class main cannot rebuild")

    def unsendable(self) -> object:
        return object()

    def _hidden(self) -> str:
        return "hidden"


class LoudGreeter(Greeter):
    def greet(self, name: str, *, punctuation: str = "!") -> str:
        return super().greet(name, punctuation=punctuation).upper()


@pytest.fixture
def table() -> Iterator[server.ServiceTable]:
    saved = server.table
    server.table = server.ServiceTable()
    yield server.table
    server.table = saved


def connect(service: type, table: server.ServiceTable) -> Any:
    return clientClass(service, WorkerService)(Connection(loopbackLink()))


def test_calls_reach_the_most_derived_implementation(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    table.addClass(LoudGreeter, WorkerService)
    greeter = connect(Greeter, table)
    assert asyncio.run(greeter.greet("ann")) == "HELLO ANN!"
    assert asyncio.run(greeter.greet("bob", punctuation="?")) == "HELLO BOB?"
    assert asyncio.run(greeter.later({"a": (1, 2)})) == {"a": (1, 2)}


def test_client_mirrors_the_service_signature(table: server.ServiceTable) -> None:
    greeter = connect(Greeter, table)
    service = inspect.signature(Greeter.greet)
    assert inspect.signature(greeter.greet) == service.replace(parameters=list(service.parameters.values())[1:])
    assert str(inspect.signature(greeter.greet)).startswith("(name: 'str', *, punctuation: 'str' = '!')")
    assert greeter.greet.__doc__ == "Greet someone."
    assert greeter.greet.__name__ == "greet"
    assert not hasattr(greeter, "_hidden")
    assert isinstance(greeter, ServiceClient)


def test_bad_arguments_fail_before_sending(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)
    with pytest.raises(TypeError, match=r"Greeter.greet\(\): missing a required argument: 'name'"):
        greeter.greet()
    with pytest.raises(TypeError, match="too many positional arguments"):
        greeter.greet("a", "b")
    assert table.instances == {}  # nothing reached the worker, so the service was never even instantiated


def test_remote_exception_is_reraised_with_the_worker_traceback(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)
    with pytest.raises(ValueError, match="broken") as raised:
        asyncio.run(greeter.fail("broken"))
    assert raised.value.args == ("broken", 42)
    note = "\n".join(raised.value.__notes__)
    assert "Raised in Greeter.fail() on worker 'loop'" in note
    assert "in fail\n    raise ValueError(message, 42)" in note


def test_exception_class_that_cannot_cross_arrives_as_remote_error(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)
    with pytest.raises(RemoteError) as raised:
        asyncio.run(greeter.failLocal())
    assert raised.value.remoteType.endswith("Greeter.failLocal.<locals>.LocalError")
    assert raised.value.message == "from a class main cannot rebuild"
    assert "raise LocalError" in raised.value.remoteTraceback


def test_unsendable_result_becomes_a_clear_error(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)
    with pytest.raises(TypeError, match=r"return value: cannot send object; register an adapter"):
        asyncio.run(greeter.unsendable())
    assert asyncio.run(greeter.greet("still serving")) == "hello still serving!"


async def answerTo(link: Link, payload: bytes) -> tuple[protocol.Frame, bool, Any]:
    """Send ``payload`` as it is in a ``REQUEST`` frame; the frame answering it, and what that frame holds."""
    frame = await link.request(protocol.FrameKind.REQUEST, payload, "a request sent as it is", timeout=5)
    ok, value, _ = await protocol.decodeReply(frame.payload, frame.attached, frame.buffers)
    return frame, ok, value


async def encoded(operation: str, method: str, *args: Any) -> bytes:
    target = protocol.ServiceTarget("Greeter", __name__, method)
    return await protocol.encodeRequest(protocol.Request(operation, target, args, {}))


def test_the_worker_answers_garbage_with_a_protocol_error(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)

    async def main() -> None:
        link = loopbackLink()
        for garbage in (b"", b"\x80\x05junk", codec.encode("not a tuple"), codec.encode((1, 2, 3, 4))):
            _, ok, failure = await answerTo(link, garbage)
            assert ok is False
            assert failure.typeName in ("workerlib.errors.DecodeError", "workerlib.errors.ProtocolError")
        _, ok, value = await answerTo(link, await encoded(protocol.OP_CALL, "greet", "still serving"))
        assert (ok, value) == (True, "hello still serving!")

    asyncio.run(main())


def test_unknown_service_is_reported_with_what_is_served(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    request = protocol.Request(protocol.OP_CALL, protocol.ServiceTarget("Nope", "x", "greet"), (), {})

    async def main() -> tuple[bool, BaseException]:
        _, ok, failure = await answerTo(loopbackLink(), await protocol.encodeRequest(request))
        return ok, await failure.rebuild("test")

    ok, error = asyncio.run(main())
    assert not ok
    assert isinstance(error, ProtocolError)
    assert str(error) == "this worker does not serve 'Nope'; it serves Greeter"


@pytest.mark.parametrize(
    ("operation", "target", "message"),
    [
        (protocol.OP_FUNCTION, "nope", "this worker exports no function 'nope'; it exports nothing"),
        (protocol.OP_CALLBACK, (1, 0), "a worker does not take callback calls; only the main thread does"),
        (
            protocol.OP_STREAM,
            protocol.ServiceTarget("Greeter", __name__, "greet"),
            "Greeter.greet was called as a stream but returned str, not a generator: the worker's class differs "
            "from the main thread's",
        ),
    ],
)
def test_requests_a_worker_cannot_serve_get_a_plain_reply_saying_why(
    table: server.ServiceTable, operation: str, target: Any, message: str
) -> None:
    table.addClass(Greeter, WorkerService)

    async def main() -> tuple[protocol.Frame, bool, BaseException]:
        payload = await protocol.encodeRequest(protocol.Request(operation, target, ("ann",), {}))
        frame, ok, failure = await answerTo(loopbackLink(), payload)
        return frame, ok, await failure.rebuild("test")

    frame, ok, error = asyncio.run(main())
    assert frame.kind == protocol.FrameKind.REPLY  # a stream that never began ends with a plain reply
    assert not ok
    assert isinstance(error, ProtocolError)
    assert str(error) == message


def test_two_implementations_of_one_interface_are_ambiguous(table: server.ServiceTable) -> None:
    class QuietGreeter(Greeter):
        pass

    table.addClass(LoudGreeter, WorkerService)
    table.addClass(QuietGreeter, WorkerService)
    with pytest.raises(ProtocolError, match="'Greeter' has several implementations in this worker"):
        table.implementation("Greeter", __name__)
    assert table.implementation("LoudGreeter", __name__) is LoudGreeter


def test_reserved_names_are_refused_at_class_definition() -> None:
    with pytest.raises(TypeError, match="defines close: these names belong to the client"):

        class Closing(WorkerService):
            def close(self) -> None: ...


def test_closed_client_fails_fast(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)
    asyncio.run(greeter.close())
    with pytest.raises(WorkerClosedError, match="the client was closed"):
        asyncio.run(greeter.greet("x"))


def test_connect_outside_a_browser_says_where_it_needs_to_run() -> None:
    with pytest.raises(ImportError, match="only exists inside Pyodide/PyScript"):
        asyncio.run(findWorker("service Greeter", lambda description: True, None))


def test_connect_error_is_a_lookup_error() -> None:
    assert issubclass(ConnectError, LookupError)


class Buffers(WorkerService):
    def echo(self, *values: Any, **named: Any) -> Any:
        return (values, named)

    def same(self, value: Any) -> Any:
        return value

    def kinds(self, *values: Any) -> list[str]:
        return [type(value).__name__ for value in values]


def test_large_buffers_travel_beside_the_payload_and_keep_their_types(table: server.ServiceTable) -> None:
    table.addClass(Buffers, WorkerService)
    link = loopbackLink()
    buffers: Any = clientClass(Buffers, WorkerService)(Connection(link))
    big = bytes(range(256)) * 1024
    mutable = bytearray(big)

    async def main() -> Any:
        echoed = await buffers.echo(big, mutable, mutable, small=b"tiny", named=mutable)
        returnedBytes = await buffers.same(big)
        returnedArray = await buffers.same(mutable)
        return echoed, returnedBytes, returnedArray, await buffers.kinds(big, mutable)

    sentBefore = link.channel.sentFrames
    (values, named), returnedBytes, returnedArray, kinds = asyncio.run(main())
    assert link.channel.sentFrames - sentBefore == 4
    assert values == (big, mutable, mutable)
    assert [type(value) for value in values] == [bytes, bytearray, bytearray]
    assert values[1] is values[2] is named["named"], "one bytearray passed three times arrives as one object"
    assert named["small"] == b"tiny"
    assert type(returnedBytes) is bytes
    assert returnedBytes == big
    assert type(returnedArray) is bytearray
    assert returnedArray == mutable
    assert kinds == ["bytes", "bytearray"]


def test_a_large_bytearray_is_sent_as_it_was_when_called(table: server.ServiceTable) -> None:
    table.addClass(Buffers, WorkerService)
    buffers: Any = clientClass(Buffers, WorkerService)(Connection(loopbackLink()))
    mutable = bytearray(200_000)

    async def main() -> Any:
        task = asyncio.ensure_future(buffers.same(mutable))
        # One turn: the call's task encodes and queues its frame, then this resumes, before the queue is flushed.
        await asyncio.sleep(0)
        mutable[0] = 1
        return await task

    assert asyncio.run(main())[0] == 0


def test_a_batch_of_another_protocol_version_gets_a_protocol_error_per_frame(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    link = loopbackLink()

    async def main() -> Any:
        payload = await protocol.encodeRequest(
            protocol.Request(protocol.OP_CALL, protocol.ServiceTarget("Greeter", __name__, "greet"), ("x",), {})
        )
        reply: asyncio.Future[protocol.Frame] = asyncio.get_running_loop().create_future()
        link.pending[77] = reply
        # What a worker of a later workerlib would receive: a batch whose header says the next version.
        batch = protocol.packBatch(
            [protocol.Frame(protocol.FrameKind.REQUEST, 77, payload)], version=protocol.VERSION + 1
        )
        peer = link.channel.peer  # type: ignore[attr-defined]
        peer._receive(batch.data)
        frame = await asyncio.wait_for(reply, 5)
        ok, failure, _ = await protocol.decodeReply(frame.payload)
        return ok, await failure.rebuild("test")

    ok, error = asyncio.run(main())
    assert ok is False
    assert isinstance(error, ProtocolError)
    assert f"protocol version {protocol.VERSION + 1}; this side speaks version {protocol.VERSION}" in str(error)


def test_a_mixin_method_named_like_a_client_attribute_is_refused() -> None:
    class Closing:
        def close(self) -> None: ...

    with pytest.raises(TypeError, match="defines close: these names belong to the client"):

        class Mixed(Closing, WorkerService):
            pass


def test_frames_the_main_thread_does_not_handle_are_answered_not_echoed(table: server.ServiceTable) -> None:
    link = loopbackLink()
    worker = link.channel.peer  # type: ignore[attr-defined]
    seen: list[protocol.Frame] = []

    async def main() -> None:
        answered = asyncio.Event()

        def record(frames: list[protocol.Frame]) -> None:  # the worker end records answers instead of serving them
            seen.extend(frames)
            if len(seen) >= 2:
                answered.set()

        worker.onFrames = record
        worker.send(protocol.Frame(protocol.FrameKind.CALLBACK_CALL, 5, b""))
        worker.send(protocol.Frame(42, 6, b""))
        await answered.wait()

    asyncio.run(asyncio.wait_for(main(), 5))
    assert sorted((frame.kind, frame.id) for frame in seen) == [
        (protocol.FrameKind.REPLY, 6),
        (protocol.FrameKind.CALLBACK_REPLY, 5),
    ]
    for frame in seen:
        ok, failure, _ = asyncio.run(protocol.decodeReply(frame.payload))
        assert ok is False
        # A callback call the main thread cannot read (an empty payload) is answered with why.
        expected = "DecodeError" if frame.kind == protocol.FrameKind.CALLBACK_REPLY else "ProtocolError"
        assert failure.typeName == f"workerlib.errors.{expected}"


class Marked:
    """Stands for a JavaScript value a browser would refuse to post."""


def test_a_message_the_channel_refuses_fails_only_the_calls_that_carried_the_refused_values(
    table: server.ServiceTable,
) -> None:
    table.addClass(Greeter, WorkerService)
    link = loopbackLink(carries=(Marked,))
    channel = link.channel
    post = channel._post

    def refusing(batch: protocol.Batch) -> None:
        if batch.attached:
            raise ValueError("DataCloneError: could not be cloned")
        post(batch)

    channel._post = refusing  # type: ignore[method-assign]
    greeter: Any = clientClass(Greeter, WorkerService)(Connection(link))

    async def main() -> tuple[Any, ...]:
        return await asyncio.gather(
            greeter.greet("a"), greeter.later(Marked()), greeter.greet("b"), return_exceptions=True
        )

    first, refused, second = asyncio.run(asyncio.wait_for(main(), 5))
    assert (first, second) == ("hello a!", "hello b!")
    assert isinstance(refused, ProtocolError)
    assert "the browser refused to send this call: ValueError: DataCloneError" in str(refused)


def test_large_lists_of_numbers_travel_packed_and_come_back_as_lists(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)
    ints = list(range(-5000, 5000))
    floats = [index / 7 for index in range(5000)] + [float("inf"), -0.0]
    mixed = [*range(2000), True]  # a bool is not packed as an int: the list is pickled as it is
    huge = [*range(2000), 2**70]  # nor an int beyond 64 bits
    for value, packed in ((ints, "q"), (floats, "d"), (mixed, None), (huge, None)):
        beside = protocol.Beside()
        request = protocol.Request(protocol.OP_CALL, protocol.ServiceTarget("Greeter", __name__, "later"), (value,))
        asyncio.run(protocol.encodeRequest(request, beside))
        assert beside.buffers == ([array.array(packed, value).tobytes()] if packed else [])  # the bytes of an array
        back = asyncio.run(greeter.later(value))
        assert back == value
        assert [type(item) for item in back] == [type(item) for item in value]
    assert str(asyncio.run(greeter.later(floats))[-1]) == "-0.0"


def test_a_packed_list_whose_buffer_does_not_hold_whole_items_is_refused() -> None:
    payload = codec.encode(codec.OutOfBand(0, True, "q"))
    with pytest.raises(codec.DecodeError, match="holds no whole 'q' items"):
        codec.decode(payload, buffers=[b"\x00" * 9])
    with pytest.raises(codec.DecodeError, match="not one workerlib sends"):
        codec.decode(codec.encode(codec.OutOfBand(0, True, "O")), buffers=[b""])


class Later:
    """An awaitable that is no coroutine: what ``__await__`` gives is awaited."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, str]:
        yield from asyncio.sleep(0).__await__()
        return self.value


@types.coroutine
def generatorBased() -> Generator[None, None, str]:
    yield  # a bare yield: the task gives the loop a turn
    return "from a generator-based coroutine"


class Awaitables(WorkerService):
    """Sync methods returning awaitables of every kind, and async ones the tests hold and time."""

    gate: asyncio.Event | None = None

    def future(self) -> Any:
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, "from a future")
        return future

    def custom(self) -> Any:
        return Later("from __await__")

    def legacy(self) -> Any:
        return generatorBased()

    def coroutine(self) -> Any:
        return asyncio.sleep(0, "from a coroutine")

    async def held(self) -> str:
        assert Awaitables.gate is not None
        await Awaitables.gate.wait()
        return "released"

    async def failLater(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        raise ValueError("failed later")


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("future", "from a future"),
        ("custom", "from __await__"),
        ("legacy", "from a generator-based coroutine"),
        ("coroutine", "from a coroutine"),
    ],
)
def test_an_awaitable_a_method_returns_is_awaited(table: server.ServiceTable, method: str, value: str) -> None:
    table.addClass(Awaitables, WorkerService)
    worker = connect(Awaitables, table)
    assert asyncio.run(getattr(worker, method)()) == value


def test_a_session_serves_the_table_it_was_given(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)  # the worker's own table: what a session given none serves
    given = server.ServiceTable(WorkerService)
    given.addClass(LoudGreeter, WorkerService)
    mainEnd, workerEnd = loopbackPair("given")
    session = server.Session(workerEnd, table=given)
    loud: Any = clientClass(Greeter, WorkerService)(Connection(Link("given", None, mainEnd)))
    quiet = connect(Greeter, table)
    server.table = server.ServiceTable(WorkerService)  # sessions made before keep the table they were made with

    async def main() -> tuple[str, str]:
        return await loud.greet("ann"), await quiet.greet("bob")

    assert asyncio.run(main()) == ("HELLO ANN!", "hello bob!")
    assert session.services is given
    assert list(given.instances) == [LoudGreeter]
    assert list(table.instances) == [Greeter]


def test_a_class_added_after_calls_were_served_serves_the_calls_after_it(table: server.ServiceTable) -> None:
    table.addClass(Greeter, WorkerService)
    greeter = connect(Greeter, table)

    async def main() -> tuple[str, str]:
        before = await greeter.greet("ann")  # the method found is remembered...
        table.addClass(LoudGreeter, WorkerService)  # ...until the table changes
        return before, await greeter.greet("ann")

    assert asyncio.run(main()) == ("hello ann!", "HELLO ANN!")


def test_a_session_keeps_a_call_while_it_waits_and_forgets_it_when_it_ends(table: server.ServiceTable) -> None:
    table.addClass(Awaitables, WorkerService)
    table.addClass(Greeter, WorkerService)
    mainEnd, workerEnd = loopbackPair("running")
    session = server.Session(workerEnd)
    link = Link("running", None, mainEnd)
    waiter: Any = clientClass(Awaitables, WorkerService)(Connection(link))
    greeter: Any = clientClass(Greeter, WorkerService)(Connection(link))

    async def main() -> None:
        Awaitables.gate = asyncio.Event()
        held = asyncio.ensure_future(waiter.held())
        await settle(lambda: len(session.running) == 1)
        assert await greeter.greet("x") == "hello x!"  # a sync call ends as it starts: never kept
        assert len(session.running) == 1
        Awaitables.gate.set()
        assert await held == "released"
        assert session.running == {}

    try:
        asyncio.run(main())
    finally:
        Awaitables.gate = None


def test_a_failed_call_is_timed_too(table: server.ServiceTable) -> None:
    table.addClass(Awaitables, WorkerService)
    worker = connect(Awaitables, table)

    async def main() -> Any:
        call = worker.failLater(0.02)
        with pytest.raises(ValueError, match="failed later"):
            await call
        return call.timing

    timing = asyncio.run(main())
    assert timing is not None
    assert timing.execution >= 0.02  # started before the method ran, finished when its exception was caught
    parts = timing.argumentTransfer + timing.execution + timing.returnTransfer
    assert parts == pytest.approx(timing.total, abs=1e-6)


class Counting(WorkerService):
    attempts = 0

    def __init__(self) -> None:
        type(self).attempts += 1
        if type(self).attempts == 1:
            raise RuntimeError("the first set-up fails")
        self.count = 0

    def increment(self) -> int:
        self.count += 1
        return self.count


def test_a_service_keeps_its_state_and_a_failed_init_is_tried_again_on_the_next_call() -> None:
    from workerlib.testing import loopbackClient

    async def scenario() -> tuple[str, list[int], list[int]]:
        counter = loopbackClient(Counting)
        try:
            await counter.increment()
        except RuntimeError as error:
            failed = str(error)
        else:
            failed = "no error"
        kept = [await counter.increment() for _ in range(3)]
        other = loopbackClient(Counting)  # a worker of its own: an instance of its own
        return failed, kept, [await other.increment()]

    failed, kept, other = asyncio.run(scenario())
    assert failed == "the first set-up fails"
    assert kept == [1, 2, 3]  # one instance, made once the set-up worked, kept between calls
    assert other == [1]
