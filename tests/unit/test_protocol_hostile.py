"""The protocol under a hostile peer (issue 20, item 5, and item 4's notes), over an in-process loopback.

Each test but the guard marked so failed before the change it checks: a flood of malformed callback calls answered
with a fresh traceback each, batches of any size accepted, a stream's window never enforced on the main thread,
parts kept for ids that never come, a malformed ``Description`` breaking ``connect()`` to an honest worker, and
``__notes__`` sent as a str making the caller get ``TypeError: Cannot add note``. After each attack the next call
still works.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workerlib import (
    DecodeError,
    ProtocolError,
    RemoteError,
    WorkerService,
    codec,
    protocol,
    server,
    service,
    workers,
)
from workerlib.client import Connection, Link, clientClass
from workerlib.protocol import Frame, FrameKind
from workerlib.testing import LoopbackChannel, loopbackPair

from .loopbackkit import settle

GATE: list[asyncio.Event] = []
"""Set by a test to hold :meth:`Target.held` until it says so."""


class Target(WorkerService):
    def ping(self) -> str:
        return "pong"

    def echo(self, value: Any) -> Any:
        return value

    def many(self, count: int) -> Iterator[int]:
        yield from range(count)

    async def held(self) -> list[int]:
        await GATE[0].wait()
        return [1, 2, 3]

    def noted(self) -> None:
        error = ValueError("bad input")
        error.__notes__ = "not a list"  # type: ignore[assignment]  # what a careless (or hostile) worker can do
        raise error


def records(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"name {n}"} for n in range(count)]


@dataclasses.dataclass
class Rig:
    client: Any
    session: server.Session
    link: Link
    mainEnd: LoopbackChannel
    workerEnd: LoopbackChannel
    sent: dict[str, list[Frame]]
    """The frames each end sent, in order: ``main`` and ``worker``."""


def spy(channel: LoopbackChannel, frames: list[Frame]) -> None:
    original = channel.send

    def send(frame: Frame) -> None:
        frames.append(frame)
        original(frame)

    channel.send = send  # type: ignore[method-assign]


@pytest.fixture
def rig() -> Iterator[Rig]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Target, WorkerService)
    mainEnd, workerEnd = loopbackPair("hostile")
    sent: dict[str, list[Frame]] = {"main": [], "worker": []}
    spy(mainEnd, sent["main"])
    spy(workerEnd, sent["worker"])
    session = server.Session(workerEnd)
    link = Link("hostile", None, mainEnd)
    yield Rig(clientClass(Target, WorkerService)(Connection(link)), session, link, mainEnd, workerEnd, sent)
    server.table = saved


def ofKind(frames: list[Frame], kind: int) -> list[Frame]:
    return [frame for frame in frames if frame.kind == kind]


def warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger and record.levelno == logging.WARNING]


def batchSize(frames: list[Frame]) -> int:
    return len(protocol.packBatch(frames).data)


# ---- 1. frames per batch, and malformed frames answered cheaply ----------------------------------------------------

ANSWER_MULTIPLE = 16
"""The answers to malformed frames may be at most this many times as large as the frames (an empty frame is the
worst case: its 22-byte header gets a header and the fixed refusal, under 300 bytes, back)."""


def test_a_flood_of_malformed_callback_calls_gets_one_fixed_answer_each_and_one_warning(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    count = 1000
    flood = [Frame(FrameKind.CALLBACK_CALL, n, b"") for n in range(1, count + 1)]

    async def main() -> None:
        for frame in flood:
            rig.workerEnd.send(frame)
        rig.workerEnd.flush()
        await settle(lambda: len(ofKind(rig.sent["main"], FrameKind.CALLBACK_REPLY)) == count)
        assert await rig.client.ping() == "pong"

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    answers = ofKind(rig.sent["main"], FrameKind.CALLBACK_REPLY)
    assert sorted(frame.id for frame in answers) == list(range(1, count + 1))
    assert batchSize(answers) <= ANSWER_MULTIPLE * batchSize(flood)
    assert len(warnings(caplog, "workerlib.client")) == 1
    assert {bytes(frame.payload) for frame in answers} == {protocol.refusal(DecodeError("empty"))}
    ok, failure, _ = asyncio.run(protocol.decodeReply(answers[0].payload))
    assert (ok, failure.typeName) == (False, "workerlib.errors.DecodeError")
    assert "its console says why" in failure.message


def test_a_flood_of_frames_of_unknown_kinds_is_answered_fixed_and_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    count = 500
    flood = [Frame(42, n, b"") for n in range(1, count + 1)]

    async def main() -> None:
        for frame in flood:
            rig.workerEnd.send(frame)
        rig.workerEnd.flush()
        await settle(lambda: len(ofKind(rig.sent["main"], FrameKind.REPLY)) == count)
        assert await rig.client.ping() == "pong"

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    answers = ofKind(rig.sent["main"], FrameKind.REPLY)
    logged = warnings(caplog, "workerlib.client")
    assert len(logged) == 1
    assert "unknown kind 42" in logged[0].getMessage()
    assert batchSize(answers) <= ANSWER_MULTIPLE * batchSize(flood)
    assert {bytes(frame.payload) for frame in answers} == {protocol.refusal(ProtocolError("unknown kind"))}


def test_a_batch_of_more_than_max_batch_frames_from_a_worker_is_refused_whole_and_the_worker_told_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    batch = protocol.packBatch([Frame(FrameKind.CALLBACK_CALL, n, b"") for n in range(protocol.MAX_BATCH_FRAMES + 1)])

    async def main() -> None:
        rig.mainEnd._receive(batch.data)
        await settle(lambda: rig.workerEnd.receivedMessages == 1)
        assert await rig.client.ping() == "pong"

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert [(frame.kind, frame.id) for frame in rig.sent["main"] if frame.kind != FrameKind.REQUEST] == [
        (FrameKind.REPLY, 0)
    ]
    assert "MAX_BATCH_FRAMES" in warnings(caplog, "workerlib.client")[0].getMessage()
    assert "the main thread could not read a message" in warnings(caplog, "workerlib.server")[0].getMessage()


def test_a_batch_of_more_than_max_batch_frames_to_a_worker_is_refused_whole(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        payload = await protocol.encodeRequest(
            protocol.Request(protocol.OP_CALL, protocol.ServiceTarget("Target", __name__, "ping"), (), {})
        )
        batch = protocol.packBatch([Frame(FrameKind.REQUEST, n, payload) for n in range(protocol.MAX_BATCH_FRAMES + 1)])
        rig.workerEnd._receive(batch.data)
        await settle(lambda: rig.mainEnd.receivedMessages == 1)
        assert await rig.client.ping() == "pong"

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert [(frame.kind, frame.id) for frame in rig.sent["worker"]] == [(FrameKind.REPLY, 0), (FrameKind.REPLY, 1)]
    assert "worker 'hostile' could not read a message" in warnings(caplog, "workerlib.client")[0].getMessage()


def test_more_frames_than_a_batch_holds_leave_in_several_batches(rig: Rig) -> None:
    # The calls worked before too, in one batch: the sender now splits, so the cap never refuses an honest burst.
    count = 2 * protocol.MAX_BATCH_FRAMES + 5

    async def main() -> list[str]:
        answers: list[str] = await asyncio.gather(*(rig.client.ping() for _ in range(count)))
        return answers

    assert asyncio.run(main()) == ["pong"] * count
    assert rig.mainEnd.sentMessages >= 3
    assert rig.workerEnd.sentMessages >= 3


# ---- 2. stream credit, enforced on the main thread -----------------------------------------------------------------


def test_a_worker_that_overruns_its_stream_window_fails_the_stream_and_its_excess_is_dropped(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def spendFreely(self: Any) -> None:  # a worker that ignores the window main granted
        self.left -= 1

    monkeypatch.setattr(server._Credit, "spend", spendFreely)
    received: list[int] = []

    async def main() -> None:
        loop = aiter(rig.client.many(100_000))
        received.append(await anext(loop))
        await settle(lambda: not rig.link.streams)  # the overrun ended the stream on this side

        async def theRest() -> None:
            while True:
                received.append(await anext(loop))

        with pytest.raises(ProtocolError, match=r"overran the window of stream \d+: it sent item 33 when"):
            await theRest()
        await settle(lambda: not rig.session.credits)  # the worker was told to stop, and did
        assert await rig.client.ping() == "pong"

    asyncio.run(main())
    assert received == list(range(protocol.STREAM_AHEAD))


def test_guard_an_honest_stream_with_a_slow_consumer_never_overruns(rig: Rig) -> None:
    # A guard (it passed before too): the credit main counts is granted before the worker hears of it.
    async def main() -> list[int]:
        items = []
        async for item in rig.client.many(2000):
            items.append(item)
            for _ in range(item % 3):
                await asyncio.sleep(0)  # a turn of the loop, not a wait: the consumer lags now and then
        return items

    assert asyncio.run(main()) == list(range(2000))


# ---- 3. parts: capped per id and in open ids, on both sides, and dropped with their call ---------------------------


def part(count: int = 3) -> bytes:
    return codec.encodePart(records(count)) or b""


def test_a_worker_holds_parts_for_at_most_max_open_part_ids_ids_that_never_come(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        for ident in range(1_000_000, 1_001_000):
            rig.mainEnd.send(Frame(FrameKind.PART, ident, part()))
        rig.mainEnd.flush()
        await settle(lambda: rig.workerEnd.receivedFrames == 1000)
        assert len(rig.session.parts) == protocol.MAX_OPEN_PART_IDS
        assert min(rig.session.parts) == 1_001_000 - protocol.MAX_OPEN_PART_IDS  # the oldest went first
        # Later calls still send their lists in parts, and get them.
        value = records(protocol.SPLIT_ABOVE + 10)
        assert await rig.client.echo(value) == value
        assert await rig.client.ping() == "pong"

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert len(ofKind(rig.sent["main"], FrameKind.PART)) > 1000  # the echo's went in parts too
    assert len(warnings(caplog, "workerlib.server")) == 1


def test_a_worker_frees_an_ids_parts_past_max_parts_and_its_request_fails_naming_the_limit(rig: Rig) -> None:
    ident = 99

    async def main() -> None:
        for _ in range(protocol.MAX_PARTS * 4):
            rig.mainEnd.send(Frame(FrameKind.PART, ident, part(100)))
        rig.mainEnd.flush()
        await settle(lambda: rig.workerEnd.receivedFrames == protocol.MAX_PARTS * 4)
        held = rig.session.parts[ident]
        assert held.items == []  # freed when the limit was passed, not kept until a request comes
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        rig.link.pending[ident] = future
        message: tuple[Any, ...] = (protocol.OP_CALL, ("Target", __name__, "echo"), (codec.JOINED,), {})
        rig.mainEnd.send(Frame(FrameKind.REQUEST, ident, codec.encode(message)))
        reply = await future
        del rig.link.pending[ident]
        ok, failure, _ = await protocol.decodeReply(reply.payload)
        assert not ok
        assert f"more than MAX_PARTS ({protocol.MAX_PARTS}) parts came" in failure.message
        assert rig.session.parts == {}
        assert await rig.client.ping() == "pong"

    asyncio.run(main())


def test_a_part_for_a_request_already_running_is_dropped(rig: Rig) -> None:
    async def main() -> None:
        GATE[:] = [asyncio.Event()]
        task = asyncio.ensure_future(rig.client.held())
        await settle(lambda: bool(rig.session.running))
        ident = next(iter(rig.session.running))
        rig.mainEnd.send(Frame(FrameKind.PART, ident, part()))
        rig.mainEnd.flush()
        await settle(lambda: rig.workerEnd.receivedFrames == 2)
        assert rig.session.parts == {}
        GATE[0].set()
        assert await task == [1, 2, 3]
        assert await rig.client.ping() == "pong"

    asyncio.run(main())


def test_main_frees_a_calls_parts_past_max_parts_and_forgets_them_with_the_call(rig: Rig) -> None:
    async def main() -> None:
        GATE[:] = [asyncio.Event()]
        task = asyncio.ensure_future(rig.client.held())
        await settle(lambda: bool(rig.link.pending) and bool(rig.session.running))
        ident = next(iter(rig.link.pending))
        for _ in range(protocol.MAX_PARTS * 4):
            rig.workerEnd.send(Frame(FrameKind.PART, ident, part(100)))
        rig.workerEnd.flush()
        await settle(lambda: rig.mainEnd.receivedFrames == protocol.MAX_PARTS * 4)
        assert rig.link.parts[ident].items == []
        GATE[0].set()
        assert await task == [1, 2, 3]  # its reply did not use the parts: only the parts were refused
        assert rig.link.parts == {}
        assert await rig.client.ping() == "pong"

    asyncio.run(main())


def test_main_holds_parts_for_at_most_max_open_part_ids_calls(rig: Rig) -> None:
    calls = protocol.MAX_OPEN_PART_IDS + 30

    async def main() -> None:
        GATE[:] = [asyncio.Event()]
        tasks = [asyncio.ensure_future(rig.client.held()) for _ in range(calls)]
        await settle(lambda: len(rig.session.running) == calls)
        for ident in list(rig.link.pending):
            rig.workerEnd.send(Frame(FrameKind.PART, ident, part()))
        rig.workerEnd.flush()
        await settle(lambda: rig.mainEnd.receivedFrames == calls)
        assert len(rig.link.parts) == protocol.MAX_OPEN_PART_IDS
        GATE[0].set()
        assert await asyncio.gather(*tasks) == [[1, 2, 3]] * calls
        assert rig.link.parts == {}
        assert await rig.client.ping() == "pong"

    asyncio.run(main())


def test_a_sender_holding_max_open_part_ids_sends_its_next_list_whole(rig: Rig) -> None:
    # The sending side of the limit: an honest sender never makes the receiver drop its parts.
    rig.link.partsGoing.update(range(10_000, 10_000 + protocol.MAX_OPEN_PART_IDS))
    value = records(protocol.SPLIT_ABOVE + 10)
    assert asyncio.run(rig.client.echo(value)) == value
    assert ofKind(rig.sent["main"], FrameKind.PART) == []
    assert ofKind(rig.sent["worker"], FrameKind.PART) != []  # the worker had no ids in flight: its reply went in parts


# ---- 4. a malformed Description ------------------------------------------------------------------------------------

MALFORMED = {
    "services not a tuple": protocol.Description(services=5, functions=()),  # type: ignore[arg-type]
    "bases not a tuple": protocol.Description(services=(("m", "Target", 5),), functions=()),  # type: ignore[arg-type]
    "an entry too short": protocol.Description(services=(("m", "Target"),), functions=()),  # type: ignore[arg-type]
    "a function name not a str": protocol.Description(services=(), functions=(1,)),  # type: ignore[arg-type]
    "a name too long": protocol.Description(services=(), functions=("f" * (protocol.MAX_NAME + 1),)),
    "too many functions": protocol.Description(services=(), functions=("f",) * (protocol.MAX_DESCRIBED + 1)),
    "a foreign life lock": protocol.Description(services=(), functions=(), lifeLock="someone-elses-lock"),
}


def hostileDescriber(name: str, description: Any) -> Link:
    """A link to a worker that answers OP_DESCRIBE with ``description``, and any other call with "pong"."""
    mainEnd, workerEnd = loopbackPair(name)

    def answer(frames: list[Frame]) -> None:
        for frame in frames:
            if frame.kind == FrameKind.REQUEST:
                workerEnd.send(Frame(FrameKind.REPLY, frame.id, codec.encode((True, description, None))))

    workerEnd.onFrames = answer
    return Link(name, None, mainEnd)


@pytest.mark.parametrize("description", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_description_counts_as_serving_nothing_with_a_warning_naming_the_worker(
    description: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        found = asyncio.run(hostileDescriber("evil", description).describe())
    assert found == protocol.Description(services=(), functions=())
    assert not found.serves("Target")
    message = warnings(caplog, "workerlib.client")[0].getMessage()
    assert "worker 'evil' answered what it serves with a malformed description" in message


def test_a_well_formed_description_comes_back_as_it_was() -> None:
    lock = protocol.LIFE_LOCK_PREFIX + "0123456789abcdef" * 2
    description = protocol.Description((("m", "Impl", ("Impl", "Target")),), ("f",), lock)
    assert asyncio.run(hostileDescriber("fine", description).describe()) == description


def test_one_workers_malformed_description_does_not_spoil_connect_to_an_honest_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Target, WorkerService)
    channels: dict[str, Callable[[], LoopbackChannel]] = {}

    def honest() -> LoopbackChannel:
        mainEnd, workerEnd = loopbackPair("honest")
        server.Session(workerEnd)
        return mainEnd

    def evil() -> LoopbackChannel:
        link = hostileDescriber("evil", MALFORMED["services not a tuple"])
        assert isinstance(link.channel, LoopbackChannel)
        return link.channel

    channels.update(evil=evil, honest=honest)

    async def workerByName(name: str) -> str:
        return name

    async def openChannel(name: str, worker: Any) -> LoopbackChannel:
        return channels[name]()

    monkeypatch.setattr(workers, "namedWorkers", lambda: ["evil", "honest"])
    monkeypatch.setattr(workers, "workerByName", workerByName)
    monkeypatch.setattr(workers, "openChannel", openChannel)
    monkeypatch.setattr(workers, "stopperOf", lambda name: lambda: None)  # the page's script elements, not here
    monkeypatch.setattr(service, "_links", {})

    async def main() -> None:
        client = await Target.connect()
        assert client.workerName == "honest"
        assert await client.ping() == "pong"

    try:
        asyncio.run(main())
    finally:
        server.table = saved


# ---- 5. notes that cannot be applied ---------------------------------------------------------------------------------


def test_notes_sent_as_a_str_arrive_as_remote_error_not_type_error(rig: Rig) -> None:
    with pytest.raises(RemoteError) as raised:
        asyncio.run(rig.client.noted())
    error = raised.value
    assert (error.remoteType, error.message) == ("builtins.ValueError", "bad input")
    assert "in noted" in error.remoteTraceback
    assert any("Raised in Target.noted() on worker 'hostile'" in note for note in error.__notes__)
    assert asyncio.run(rig.client.ping()) == "pong"


class Unnoted(Exception):
    def add_note(self, note: str) -> None:
        raise TypeError("Cannot add note: this one refuses")


def test_an_exception_that_refuses_its_note_arrives_as_remote_error_keeping_its_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever the decoder lets through, a failure to apply the note is never the caller's TypeError.
    decode = codec.decodeAsync

    async def decodeAsync(payload: Any, *args: Any, **kwargs: Any) -> Any:
        if bytes(payload) == b"unnoted":
            return Unnoted("refuses notes")
        return await decode(payload, *args, **kwargs)

    monkeypatch.setattr(codec, "decodeAsync", decodeAsync)
    cause = protocol.RemoteFailure(codec.encode(KeyError("k")), "builtins.KeyError", "'k'", "cause tb")
    failure = protocol.RemoteFailure(b"unnoted", f"{__name__}.Unnoted", "refuses notes", "its tb", cause)
    error = asyncio.run(failure.rebuild("here"))
    assert isinstance(error, RemoteError)
    assert (error.remoteType, error.message, error.remoteTraceback) == (
        f"{__name__}.Unnoted",
        "refuses notes",
        "its tb",
    )
    assert isinstance(error.__cause__, KeyError)
    assert error.__notes__ == ["Raised in here; the worker's traceback:\nits tb"]
