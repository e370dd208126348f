"""Long lists sent ahead in parts (``FrameKind.PART``), in plain CPython through an in-process loopback.

The browser layer (tests/browser/test_channel.py, section "parts") shows the same on a real worker on both Pyodide
releases; here the edge cases run fast: what goes in parts and what goes whole, identity kept, a part refused, parts
left behind by a request that never came.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from workerlib import DecodeError, UnsendableError, WorkerService, codec, nesting, protocol, server
from workerlib.client import Connection, Link, clientClass
from workerlib.protocol import Frame, FrameKind
from workerlib.testing import LoopbackChannel, loopbackPair

from .loopbackkit import settle

LONG = protocol.SPLIT_ABOVE + 100


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Echo(WorkerService):
    def echo(self, value: Any) -> Any:
        return value

    def length(self, value: list[Any], *, tail: Any = None) -> int:
        return len(value)

    def make(self, count: int) -> list[dict[str, Any]]:
        return records(count)

    def sameTwice(self, value: list[Any]) -> bool:
        return value[0] is value[1]


def records(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"name {n}", "score": n * 0.5, "tags": [f"t{n % 7}", n]} for n in range(count)]


@dataclasses.dataclass
class Rig:
    client: Any
    session: server.Session
    link: Link
    sent: dict[str, list[int]]
    """Kinds of the frames each end sent, in order: ``main`` and ``worker``."""


def spy(channel: LoopbackChannel, kinds: list[int]) -> None:
    original = channel.send

    def send(frame: Frame) -> None:
        kinds.append(frame.kind)
        original(frame)

    channel.send = send  # type: ignore[method-assign]


@pytest.fixture
def rig() -> Iterator[Rig]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Echo, WorkerService)
    mainEnd, workerEnd = loopbackPair("parts")
    sent: dict[str, list[int]] = {"main": [], "worker": []}
    spy(mainEnd, sent["main"])
    spy(workerEnd, sent["worker"])
    session = server.Session(workerEnd)
    link = Link("parts", None, mainEnd)
    yield Rig(clientClass(Echo, WorkerService)(Connection(link)), session, link, sent)
    server.table = saved


def parts(kinds: list[int]) -> int:
    return kinds.count(FrameKind.PART)


def test_a_long_list_of_records_goes_in_parts_both_ways_and_arrives_equal(rig: Rig) -> None:
    value = records(LONG)
    result = asyncio.run(rig.client.echo(value))
    assert result == value
    expected = -(-LONG // max(protocol.PART_ITEMS, -(-LONG // protocol.MAX_PARTS)))
    assert parts(rig.sent["main"]) == expected
    assert parts(rig.sent["worker"]) == expected
    assert rig.sent["main"][-1] == FrameKind.REQUEST  # the parts go ahead of their request
    assert rig.sent["worker"][-1] == FrameKind.REPLY
    assert rig.session.parts == {}
    assert rig.link.parts == {}


def test_a_list_shorter_than_the_threshold_goes_whole(rig: Rig) -> None:
    value = records(protocol.SPLIT_ABOVE - 1)
    assert asyncio.run(rig.client.echo(value)) == value
    assert parts(rig.sent["main"]) == parts(rig.sent["worker"]) == 0


def test_a_huge_list_goes_in_at_most_max_parts(rig: Rig) -> None:
    count = protocol.MAX_PARTS * protocol.PART_ITEMS * 3
    assert asyncio.run(rig.client.length(records(count))) == count
    assert parts(rig.sent["main"]) == protocol.MAX_PARTS


def test_a_list_in_a_keyword_argument_goes_in_parts_and_a_second_long_list_whole(rig: Rig) -> None:
    value, tail = records(LONG), records(LONG)
    assert asyncio.run(rig.client.length(value, tail=tail)) == LONG
    assert parts(rig.sent["main"]) > 0  # one list went ahead...
    rig.sent["main"].clear()
    assert asyncio.run(rig.client.length([1, "x", None] * (LONG // 3), tail=tail)) == (LONG // 3) * 3
    assert parts(rig.sent["main"]) > 0  # ...the first of them


def test_a_list_whose_items_share_a_value_goes_whole_and_keeps_it_shared(rig: Rig) -> None:
    shared = {"kept": "once"}
    value: list[Any] = [shared, shared, *records(LONG)]
    assert asyncio.run(rig.client.sameTwice(value)) is True
    assert parts(rig.sent["main"]) == 0
    result = asyncio.run(rig.client.echo(value))
    assert result[0] is result[1]
    assert result == value


def test_items_shared_across_parts_stay_shared(rig: Rig) -> None:
    # The shared item sits in the last part: the earlier parts went ahead before it was found, and are dropped.
    shared = ["shared"]
    value: list[Any] = [*records(LONG), shared, shared]
    result = asyncio.run(rig.client.echo(value))
    assert result == value
    assert result[-1] is result[-2]
    assert parts(rig.sent["main"]) > 0  # some went ahead, then the list went whole
    assert rig.session.parts == {}
    assert rig.link.parts == {}


def test_a_list_held_elsewhere_too_still_arrives_equal(rig: Rig) -> None:
    value = records(LONG)
    alsoHeld = value[10]  # a variable holds an item too: it might be shared, so the list goes whole
    assert asyncio.run(rig.client.echo(value)) == value
    assert parts(rig.sent["main"]) == 0
    assert alsoHeld["id"] == 10


def test_a_list_of_objects_goes_whole(rig: Rig) -> None:
    value = [Point(n, -n) for n in range(LONG)]
    assert asyncio.run(rig.client.echo(value)) == value
    assert parts(rig.sent["main"]) == 0


def test_a_long_list_result_goes_in_parts(rig: Rig) -> None:
    assert asyncio.run(rig.client.make(LONG)) == records(LONG)
    assert parts(rig.sent["main"]) == 0
    assert parts(rig.sent["worker"]) > 0


def test_a_list_too_deep_to_send_still_fails_naming_its_place(rig: Rig) -> None:
    deep: Any = 0
    for _ in range(nesting.NESTING_LIMIT + 1):
        deep = [deep]
    value: list[Any] = [*records(LONG), deep]
    with pytest.raises(UnsendableError, match=r"args\[0\]\[4196\]"):
        asyncio.run(rig.client.echo(value))
    assert asyncio.run(rig.client.echo([1, 2])) == [1, 2]
    assert rig.session.parts == {}  # the parts sent before the failure were cancelled


def test_a_request_that_fails_to_encode_after_its_parts_cancels_them(rig: Rig) -> None:
    with pytest.raises(UnsendableError, match=r"tail"):
        asyncio.run(rig.client.length(records(LONG), tail=object()))
    assert FrameKind.CANCEL in rig.sent["main"]
    assert rig.session.parts == {}


def test_a_refused_part_fails_the_call_and_the_worker_keeps_serving(rig: Rig) -> None:
    async def main() -> None:
        channel = rig.link.channel
        ident = 99
        # A part that holds a dict, not a list: refused; the request that follows gets the error.
        channel.send(Frame(FrameKind.PART, ident, codec.encode({"not": "a list"})))
        message: tuple[Any, ...] = (protocol.OP_CALL, ("Echo", __name__, "echo"), (codec.JOINED,), {})
        channel.send(Frame(FrameKind.REQUEST, ident, codec.encode(message)))
        channel.flush()
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        rig.link.pending[ident] = future
        reply = await future
        del rig.link.pending[ident]
        ok, failure, _ = await protocol.decodeReply(reply.payload)
        assert not ok
        assert "a part of a list sent in parts was refused" in failure.message
        assert "not a list" in failure.message
        assert await rig.client.echo([3]) == [3]

    asyncio.run(main())


def test_a_reply_part_from_a_hostile_worker_fails_only_that_call() -> None:
    mainEnd, workerEnd = loopbackPair("hostile")
    link = Link("hostile", None, mainEnd)

    def answer(frames: list[Frame]) -> None:
        for frame in frames:
            if frame.kind == FrameKind.REQUEST:
                workerEnd.send(Frame(FrameKind.PART, frame.id, b"\x80\x05junk."))
                workerEnd.send(Frame(FrameKind.REPLY, frame.id, codec.encode((True, codec.JOINED, None))))

    workerEnd.onFrames = answer

    async def main() -> None:
        payload = codec.encode((protocol.OP_FUNCTION, "f", (), {}))
        frame = await link.request(FrameKind.REQUEST, payload, "f()")
        with pytest.raises(DecodeError, match="a part of a list sent in parts was refused"):
            await protocol.decodeReply(frame.payload, joined=frame.joined)
        assert link.parts == {}

    asyncio.run(main())


def test_parts_of_a_call_nobody_waits_for_are_dropped() -> None:
    mainEnd, workerEnd = loopbackPair("late")
    link = Link("late", None, mainEnd)

    async def main() -> None:
        workerEnd.send(Frame(FrameKind.PART, 5, codec.encodePart(records(10)) or b""))
        workerEnd.flush()
        await settle(lambda: mainEnd.receivedFrames == 1)
        assert link.parts == {}

    asyncio.run(main())


def test_a_payload_referring_to_parts_that_never_came_is_refused() -> None:
    payload = codec.encode((True, codec.JOINED, None))
    with pytest.raises(DecodeError, match="no parts came before it"):
        asyncio.run(protocol.decodeReply(payload))


def test_a_part_is_a_plain_payload_refused_like_any_other() -> None:
    assert codec.decodePart(codec.encodePart(records(3)) or b"") == records(3)
    with pytest.raises(DecodeError, match="not a list"):
        codec.decodePart(codec.encode((1, 2)))
    with pytest.raises(DecodeError, match="BUILD"):
        codec.decodePart(b"\x80\x05]\x94}\x94b.")
    deep: Any = 0
    for _ in range(nesting.NESTING_LIMIT + 1):
        deep = [deep]
    with pytest.raises(DecodeError, match="NESTING_LIMIT"):
        codec.decodePart(codec.encode([deep], envelope=2))


def test_only_a_tree_of_built_in_values_may_go_as_a_part() -> None:
    assert codec.encodePart([Point(1, 2)]) is None
    inner = [1]
    assert codec.encodePart([[inner], [inner]]) is None
    assert codec.encodePart(records(4)[:3]) is not None  # a fresh slice: its items are held by two lists


# ---- parts sent as trees -------------------------------------------------------------------------------------------


def treePart(keys: list[str], body: bytes) -> bytes:
    head = "\0".join(keys).encode()
    return codec.TREE_PART + len(head).to_bytes(4, "little") + head + body


def fastPickle(value: Any, keys: list[str]) -> bytes:
    """What encodePart's pickler writes: nothing memoized, the keys preset."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, codec.PROTOCOL)
    pickler.fast = True
    pickler.memo = {id(key): (index, key) for index, key in enumerate(keys)}
    pickler.dump(value)
    return buffer.getvalue()


def test_a_part_of_records_goes_as_a_tree_whose_dicts_refer_to_their_keys() -> None:
    part = records(600)
    payload = codec.encodePart(part)
    assert payload is not None
    assert payload.startswith(codec.TREE_PART)
    assert b"id\0name\0score\0tags" in payload[:64]
    assert payload.count(b"score") == 1  # spelled once, in the keys; every dict refers to it
    assert codec.decodePart(payload) == part


def test_a_flat_part_goes_as_a_plain_pickle() -> None:
    payload = codec.encodePart(list(range(600)))
    assert payload is not None
    assert payload.startswith(b"\x80\x05")
    assert codec.decodePart(payload) == list(range(600))


def test_a_tree_that_would_repeat_a_long_shared_string_goes_as_a_plain_pickle() -> None:
    text = "x" * 100_000
    part = [[text, n] for n in range(600)]  # one string, held by 600 lists: a tree writes it out 600 times
    payload = codec.encodePart(part)
    assert payload is not None
    assert not payload.startswith(codec.TREE_PART)
    assert len(payload) < 2 * len(text)  # written once, referred to after
    assert codec.decodePart(payload) == part


def test_a_shared_bytearray_keeps_its_identity_by_going_whole(rig: Rig) -> None:
    mutable = bytearray(b"one buffer")
    value: list[Any] = [mutable, *records(LONG), mutable]
    result = asyncio.run(rig.client.echo(value))
    assert result == value
    assert result[0] is result[-1]


def test_records_with_many_tuples_go_as_a_tree_the_full_reading_checks() -> None:
    part = [{"at": (n, n + 1), "name": f"p{n}"} for n in range(600)]  # more tuples than the quick grammar allows
    payload = codec.encodePart(part)
    assert payload is not None
    assert payload.startswith(codec.TREE_PART)
    assert codec.decodePart(payload) == part


def test_a_tree_part_that_memoizes_is_refused() -> None:
    shared = [1, 2, 3]
    body = pickle.dumps([[shared, shared]], codec.PROTOCOL)  # memoized, and fetched twice: a shared container
    with pytest.raises(DecodeError, match="sent as a tree, yet it memoizes values"):
        codec.decodePart(treePart([], body))


def test_a_tree_part_may_only_refer_to_its_keys() -> None:
    body = fastPickle([{"a": 1}], ["a"])
    assert codec.decodePart(treePart(["a"], body)) == [{"a": 1}]
    with pytest.raises(DecodeError, match="malformed payload"):
        codec.decodePart(treePart([], body))  # refers to memo entry 0, which it never made
    wrongKey = codec.decodePart(treePart(["b"], body))
    assert wrongKey == [{"b": 1}]  # the keys say what the entries are: only strings, whatever the sender meant


def test_a_tree_part_too_deep_is_refused() -> None:
    deep: Any = 0
    for _ in range(nesting.NESTING_LIMIT + 1):
        deep = [deep]
    with pytest.raises(DecodeError, match="NESTING_LIMIT"):
        codec.decodePart(treePart([], fastPickle([deep], [])))
    shallow: Any = 0
    for _ in range(nesting.NESTING_LIMIT - 1):
        shallow = [shallow]
    assert codec.decodePart(treePart([], fastPickle([shallow], []))) == [shallow]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (codec.TREE_PART + b"\x01\x00", "ends inside its head"),
        (codec.TREE_PART + (1000).to_bytes(4, "little") + b"abc", "past its end"),
        (treePart([], b""), "not a protocol 5 pickle"),
        (codec.TREE_PART + (2).to_bytes(4, "little") + b"\xff\xfe" + pickle.dumps([], 5), "not UTF-8"),
        (treePart(["k"] * (nesting.PART_KEYS + 1), pickle.dumps([], 5)), "keys, past"),
    ],
)
def test_a_malformed_tree_part_is_refused(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        codec.decodePart(payload)


def test_keys_that_cannot_be_preset_are_spelled_out_and_still_arrive() -> None:
    emptyOnly = [{"": [n]} for n in range(600)]  # the one key is empty: the keys would read as none at all
    separator = [{"a\0b": -n, "plain": [n]} for n in range(600)]  # a key holding the separator
    for part in (emptyOnly, separator):
        payload = codec.encodePart(part)
        assert payload is not None
        assert payload.startswith(codec.TREE_PART)
        assert codec.decodePart(payload) == part
