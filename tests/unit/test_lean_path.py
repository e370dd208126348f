"""The lean path of a small call (issue 21, item 1), in plain CPython: what it skips must give what the full path
gives, and refuse what the full path refuses.

- a lone frame leaves at once; frames of one turn leave together when it ends; what handling a message sends leaves
  when the handling ends, without waiting for a turn;
- a batch of one frame is written and read in one go, byte for byte the general layout;
- ``encodePlainRequest`` writes what ``encodeRequest`` writes, for exactly the arguments it takes;
- ``decodePlainReply`` reads what ``decodeReply`` reads, and refuses the same malformed payloads;
- a client binds its method stand-ins once; a call works out its timing only when asked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from workerlib import CallTiming, DecodeError, ProtocolError, WorkerService, codec, protocol
from workerlib.protocol import Frame, FrameKind
from workerlib.testing import LoopbackChannel, loopbackClient, loopbackPair


class Adder(WorkerService):
    def add(self, a: int, b: int) -> int:
        """Add two numbers."""
        return a + b


@dataclasses.dataclass
class Point:
    x: int
    y: int


# ---- the channel: at once, by turn, after handling ---------------------------------------------------------------


class Counting(LoopbackChannel):
    """A loopback end that records each batch it posts."""

    def __init__(self) -> None:
        super().__init__("counting")
        self.posted: list[int] = []

    def _post(self, batch: protocol.Batch) -> None:
        self.posted.append(protocol.unpackBatch(batch.data, batch.separate, batch.attached)[1].__len__())


def test_a_lone_frame_leaves_at_once_and_the_rest_of_its_turn_leaves_when_the_turn_ends() -> None:
    async def scenario() -> list[list[int]]:
        channel = Counting()
        seen = []
        channel.send(Frame(FrameKind.CANCEL, 1))
        seen.append(list(channel.posted))  # posted before send returned: no turn of the loop waited for
        channel.send(Frame(FrameKind.CANCEL, 2))
        channel.send(Frame(FrameKind.CANCEL, 3))
        seen.append(list(channel.posted))  # the turn is not over: they wait
        await asyncio.sleep(0)
        seen.append(list(channel.posted))  # the turn ended: both left in one message
        channel.send(Frame(FrameKind.CANCEL, 4))
        seen.append(list(channel.posted))  # a new turn: at once again
        return seen

    assert asyncio.run(scenario()) == [[1], [1], [1, 2], [1, 2, 1]]


def test_what_handling_a_message_sends_leaves_in_one_message_when_the_handling_ends() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        channel = Counting()
        during: list[int] = []

        def onFrames(frames: list[Frame]) -> None:
            for frame in frames:
                channel.send(Frame(FrameKind.CANCEL, frame.id))
            during.extend(channel.posted)  # nothing left while the message is handled

        channel.onFrames = onFrames
        batch = protocol.packBatch([Frame(FrameKind.CANCEL, n) for n in (1, 2, 3)])
        channel._receive(batch.data)
        return during, list(channel.posted)  # no turn of the loop between: the replies left as handling ended

    assert asyncio.run(scenario()) == ([], [3])


def test_send_all_sends_its_frames_as_one_message_at_once() -> None:
    async def scenario() -> list[int]:
        channel = Counting()
        channel.sendAll([Frame(FrameKind.CANCEL, n) for n in range(100)])
        return list(channel.posted)

    assert asyncio.run(scenario()) == [100]


# ---- one frame, one go -------------------------------------------------------------------------------------------


def generalLayout(frame: Frame) -> bytes:
    """The batch layout the module's docstring gives, written field by field."""
    head = protocol._BATCH_HEADER.pack(protocol.BATCH_MAGIC, protocol.VERSION, 1)
    return head + protocol._FRAME_HEADER.pack(frame.kind, 0, frame.id, 0, 0, len(frame.payload)) + bytes(frame.payload)


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 10])
def test_a_batch_of_one_frame_is_the_general_layout(payload: bytes) -> None:
    frame = Frame(FrameKind.REQUEST, 77, payload)
    batch = protocol.packBatch([frame])
    assert batch.data == generalLayout(frame)
    version, frames = protocol.unpackBatch(batch.data)
    assert version == protocol.VERSION
    assert [(f.kind, f.id, bytes(f.payload), f.attached, f.buffers) for f in frames] == [
        (FrameKind.REQUEST, 77, payload, (), ())
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # payload shorter than announced
        lambda data: data + b"!",  # longer
        lambda data: b"XLB" + data[3:],  # not a batch
        lambda data: data[:4] + b"\x00\x00\x00\x00" + data[8:],  # zero frames announced, one there
    ],
)
def test_a_damaged_batch_of_one_frame_is_refused_as_the_general_reading_refuses_it(damage: Any) -> None:
    data = damage(protocol.packBatch([Frame(FrameKind.REQUEST, 5, b"payload")]).data)
    with pytest.raises(ProtocolError, match="malformed batch"):
        protocol.unpackBatch(data)


# ---- plain requests and replies ----------------------------------------------------------------------------------

TARGET = protocol.ServiceTarget("Adder", __name__, "add")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, 2), {}), (("text", 2.5, None, True, b"x" * 1000), None), (([1, 2], {"k": 1}), {"b": (1, b"x")})],
)
def test_plain_request_writes_what_encode_request_writes(args: tuple[Any, ...], kwargs: Any) -> None:
    request = protocol.Request(protocol.OP_CALL, TARGET, args, kwargs)
    plain = protocol.encodePlainRequest(request)
    assert plain is not None
    assert plain == asyncio.run(protocol.encodeRequest(request, protocol.Beside()))
    decoded = asyncio.run(protocol.decodeRequest(plain))
    assert decoded == protocol.Request(protocol.OP_CALL, TARGET, args, kwargs or {})
    assert type(decoded.target) is protocol.ServiceTarget


@pytest.mark.parametrize(
    "arg",
    [Point(1, 2), b"x" * 100_000, print, [[[[1]]]], list(range(20)), 1 + 2j],
    ids=["adapted", "large-bytes", "callable", "deep", "long", "complex"],
)
def test_plain_request_leaves_every_other_argument_to_encode_request(arg: Any) -> None:
    assert protocol.encodePlainRequest(protocol.Request(protocol.OP_CALL, TARGET, (arg,), {})) is None


def test_plain_reply_reads_what_decode_reply_reads() -> None:
    payload = asyncio.run(protocol.encodeReply(True, {"sum": 3}, protocol.Stamps(1.0, 2.0, 3.0)))
    frame = Frame(FrameKind.REPLY, 1, payload)
    assert protocol.decodePlainReply(frame) == asyncio.run(protocol.decodeReply(payload))
    assert protocol.decodePlainReply(frame) == (True, {"sum": 3}, protocol.Stamps(1.0, 2.0, 3.0))


def test_plain_reply_leaves_a_failure_and_values_beside_to_decode_reply() -> None:
    async def failure() -> bytes:
        return await protocol.encodeReply(False, await protocol.RemoteFailure.capture(ValueError("no")))

    assert protocol.decodePlainReply(Frame(FrameKind.REPLY, 1, asyncio.run(failure()))) is None
    payload = asyncio.run(protocol.encodeReply(True, 1))
    assert protocol.decodePlainReply(Frame(FrameKind.REPLY, 1, payload, buffers=[b"x"])) is None


@pytest.mark.parametrize(
    "payload",
    [
        b"not a pickle",
        pickle.dumps((True, 1, None), protocol=5)[:-1],  # no STOP
        pickle.dumps((True, 1), protocol=5),  # the wrong shape
        pickle.dumps([True, 1, None], protocol=5),
    ],
)
def test_plain_reply_refuses_what_decode_reply_refuses(payload: bytes) -> None:
    frame = Frame(FrameKind.REPLY, 1, payload)
    with pytest.raises((DecodeError, ProtocolError)) as slow:
        asyncio.run(protocol.decodeReply(payload))
    with pytest.raises(slow.type):
        protocol.decodePlainReply(frame)


def test_decode_quick_takes_only_short_quick_payloads() -> None:
    assert codec.decodeQuick(pickle.dumps((1, "a"), protocol=5)) == (True, (1, "a"))
    assert codec.decodeQuick(codec.encode(Point(1, 2))) == (False, None)  # calls a stand-in: the full screen
    assert codec.decodeQuick(pickle.dumps(list(range(10_000)), protocol=5)) == (False, None)  # long: measured


# ---- the client ---------------------------------------------------------------------------------------------------


def test_a_client_binds_its_stand_ins_once_and_they_keep_the_methods_face() -> None:
    async def scenario() -> tuple[Any, ...]:
        adder = loopbackClient(Adder)
        return adder.add is adder.add, inspect.signature(adder.add), adder.add.__doc__, await adder.add(1, 2)

    same, signature, doc, result = asyncio.run(scenario())
    assert same is True
    assert list(signature.parameters) == ["a", "b"]
    assert signature.return_annotation == inspect.signature(Adder.add).return_annotation
    assert doc == "Add two numbers."
    assert result == 3


def test_a_call_works_out_its_timing_when_asked() -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        adder = loopbackClient(Adder)
        call = adder.add(1, 2)
        before = call.timing
        await call
        return before, call._timing, call.timing

    before, unworked, timing = asyncio.run(scenario())
    assert before is None
    assert unworked is None  # nothing was worked out until timing was read
    assert isinstance(timing, CallTiming)
    assert timing.total >= timing.execution >= 0


def test_a_lone_call_is_two_messages_and_a_hundred_gathered_calls_at_most_four() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        mainEnd, workerEnd = loopbackPair("counted")
        from workerlib.client import Connection, Link, clientClass
        from workerlib.server import ServiceTable, Session

        table = ServiceTable(WorkerService)
        table.addClass(Adder, WorkerService)
        Session(workerEnd, table=table)
        adder: Any = clientClass(Adder, WorkerService)(Connection(Link("counted", None, mainEnd)))
        assert await adder.add(1, 2) == 3
        lone = (mainEnd.sentMessages, workerEnd.sentMessages)
        assert await asyncio.gather(*(adder.add(n, 1) for n in range(100))) == [n + 1 for n in range(100)]
        return (*lone, mainEnd.sentMessages - lone[0], workerEnd.sentMessages - lone[1])

    assert asyncio.run(scenario()) == (1, 1, 2, 2)


@pytest.mark.parametrize(
    "value",
    [3, None, "text", (1, 2.5), {"a": [1, 2]}, b"x" * 1000],
    ids=["int", "none", "str", "tuple", "dict", "kilobyte"],
)
def test_encode_plain_reply_writes_what_encode_reply_writes(value: Any) -> None:
    stamps = protocol.Stamps(1.0, 2.0, 3.0)
    plain = protocol.encodePlainReply(value, stamps)
    assert plain is not None
    assert plain == asyncio.run(protocol.encodeReply(True, value, stamps, protocol.Beside()))
    assert asyncio.run(protocol.decodeReply(plain)) == (True, value, stamps)


@pytest.mark.parametrize(
    "value",
    [Point(1, 2), b"x" * 100_000, list(range(2000)), [[[[1]]]], 1 + 2j],
    ids=["adapted", "large-bytes", "long-list", "deep", "complex"],
)
def test_encode_plain_reply_leaves_every_other_result_to_encode_reply(value: Any) -> None:
    assert protocol.encodePlainReply(value, protocol.Stamps(1.0, 2.0, 3.0)) is None


def test_decode_plain_request_reads_what_decode_request_reads() -> None:
    request = protocol.Request(protocol.OP_CALL, TARGET, (1, "two"), {"c": 3.0})
    payload = asyncio.run(protocol.encodeRequest(request))
    assert protocol.decodePlainRequest(Frame(FrameKind.REQUEST, 1, payload)) == asyncio.run(
        protocol.decodeRequest(payload)
    )


def test_decode_plain_request_leaves_requests_with_values_beside_or_stand_ins_to_decode_request() -> None:
    beside = protocol.Beside(callbacks=[])
    withCallback = asyncio.run(protocol.encodeRequest(protocol.Request(protocol.OP_CALL, TARGET, (print,), {}), beside))
    assert protocol.decodePlainRequest(Frame(FrameKind.REQUEST, 1, withCallback)) is None
    plain = asyncio.run(protocol.encodeRequest(protocol.Request(protocol.OP_CALL, TARGET, (1,), {})))
    assert protocol.decodePlainRequest(Frame(FrameKind.REQUEST, 1, plain, attached=["js"])) is None


@pytest.mark.parametrize(
    "message",
    [("call", ("A", "m", "f"), [1], {}), ("nope", ("A", "m", "f"), (), {}), ("call", ("A", "m"), (), {}), (1, 2)],
    ids=["list-args", "unknown-operation", "short-target", "short"],
)
def test_decode_plain_request_refuses_what_decode_request_refuses(message: Any) -> None:
    payload = pickle.dumps(message, protocol=5)
    with pytest.raises(ProtocolError):
        asyncio.run(protocol.decodeRequest(payload))
    with pytest.raises(ProtocolError):
        protocol.decodePlainRequest(Frame(FrameKind.REQUEST, 1, payload))


def test_a_malformed_plain_request_is_answered_with_what_is_wrong_and_the_worker_serves_on() -> None:
    async def scenario() -> tuple[Any, Any]:
        adder = loopbackClient(Adder)
        link = adder._connection.link
        bad = pickle.dumps(("call", ("Adder", __name__, "add"), [1, 2], {}), protocol=5)
        frame = await link.request(FrameKind.REQUEST, bad, "a bad request")
        reply = await protocol.decodeReply(frame.payload)
        return reply, await adder.add(2, 3)

    (ok, failure, _), after = asyncio.run(scenario())
    assert ok is False
    assert "args as a tuple" in failure.message
    assert after == 5
