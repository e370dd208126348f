"""The transport's real seam inside Pyodide on Node: two ``ports.PortChannel`` ends on the two ports of one
``MessageChannel``, a ``server.Session`` serving a test service on one, a ``client.Link`` and a client on the other.

What crosses and how: ``bytes`` and ``bytearray`` values, small and far above ``protocol.SEPARATE_ABOVE`` (1 MB,
10 MB), arrive exact and in the type sent; the frames of one loop turn leave as one message (100 gathered calls, one
batch), flushed through the event loop where there is no ``scheduler.postTask``, and large values travel as separate
buffers beside the batch, moved, not copied; JavaScript values (typed arrays, ``ArrayBuffer``, ``DataView``, plain
objects and arrays holding typed arrays, ``Blob``, ``Error``) nested in Python values cross as themselves, as arguments
and as results; ``transfer()`` moves an ``ArrayBuffer`` or a typed array's buffer, both ways, and refuses what it
cannot move; a ``JsProxy`` structured clone cannot copy (a function, an object holding one, a class instance, a
detached ``ArrayBuffer``) fails before sending with ``UnsendableError`` naming its place, and the calls beside it go
through.

And what goes wrong: a frame of an unknown kind is answered with a ``ProtocolError``; malformed messages posted raw on
a port (not a batch, a broken batch, another protocol version, attached values that are no list) leave the session
serving, and a reply batch of another version fails the call it names; cancelling a call, or its deadline, cancels the
``async`` method in the "worker".

Each test body runs inside Pyodide (imports go inside it) and starts with ``exec(kit)``, which installs
``tests/pyodide/seamkit.py`` there (see ``conftest.kit``). JavaScript values are built and inspected on the JavaScript
side with ``run_js``, and each port is watched from JavaScript (what it posted, what its handler threw), so the checks
do not rely on the conversions under test.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_pyodide import run_in_pyodide

from workerlib import protocol

SEPARATE_ABOVE = protocol.SEPARATE_ABOVE


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_small_bytes_and_bytearrays_cross_exactly_inside_their_batch(selenium: Any, kit: str) -> None:
    exec(kit)
    import asyncio

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import protocol

    payloads = [b"", b"\x00", b"\x00\x00\xff\x00", b"hello\x00world", bytes(range(256)), bytes(range(255, -1, -1)) * 64]
    values: list[Any] = [*payloads, *(bytearray(payload) for payload in payloads)]
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        returned = await asyncio.gather(*(probe.echo(value) for value in values))
        arrived = seam.instance(Probe).arrived
        assert len(arrived) == len(values)
        for sent, there, back in zip(values, arrived, returned, strict=True):
            assert (type(there), there) == (type(sent), sent)
            assert (type(back), back) == (type(sent), sent)
        # A memoryview (a slice of one, even) arrives as the bytes it shows.
        view = memoryview(b"..payload..")[2:9]
        assert await probe.echo(view) == b"payload"
        assert type(seam.instance(Probe).arrived[-1]) is bytes

        posted = seam.postedBy("main")
        # The first gathered call at once, the other gathered calls as the turn ended, then the memoryview.
        assert len(posted) == 3, posted
        for entry in posted:
            # Small payloads travel inside the batch: the message is one ArrayBuffer.
            assert entry["shape"] == "ArrayBuffer", entry
            assert entry["sizes"][0] < protocol.SEPARATE_ABOVE
        assert [entry["shape"] for entry in seam.postedBy("worker")] == ["ArrayBuffer"] * 3


@pytest.mark.parametrize(
    "size",
    [
        # Pickled, in a payload just above SEPARATE_ABOVE; and from SEPARATE_ABOVE on, in a buffer of its own.
        pytest.param(SEPARATE_ABOVE - 1, id="SEPARATE_ABOVE-1"),
        pytest.param(SEPARATE_ABOVE, id="SEPARATE_ABOVE"),
        pytest.param(1 << 20, id="1MB"),
        pytest.param(10 << 20, id="10MB"),
    ],
)
@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_large_bytes_and_bytearrays_cross_exactly_as_separate_buffers(selenium: Any, kit: str, size: int) -> None:
    exec(kit)
    import random

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import protocol

    # Built in Pyodide: pickling megabytes from the host through pytest-pyodide takes seconds.
    data = random.Random(size).randbytes(size)
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        for value in (data, bytearray(data)):
            back = await probe.echo(value)
            there = seam.instance(Probe).arrived[-1]
            assert type(there) is type(value)
            assert there == value, "the worker got other bytes"
            assert type(back) is type(value)
            assert back == value, "the reply carried other bytes"
        for side in ("main", "worker"):
            posted = seam.postedBy(side)
            assert len(posted) == 2, posted
            for entry in posted:
                # [batch, no attached values, the payload in a buffer of its own]; every buffer moved, none copied.
                assert entry["shape"] == "Array", entry
                assert entry["attached"] == 0
                batch, *separate = entry["sizes"]
                assert batch < 1024, f"the {side} side gathered the large value into the batch: {entry}"
                assert len(separate) == 1
                assert size <= separate[0] < size + 1024
                assert separate[0] >= protocol.SEPARATE_ABOVE
                assert entry["transferred"] == 2
                assert entry["detached"] is True


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_a_channel_sends_where_there_is_no_scheduler_postTask(selenium: Any, kit: str) -> None:
    # Node has no scheduler.postTask, nor have some browsers (Safari): a channel must then flush through the event
    # loop, and a call made there must simply work.
    exec(kit)
    from pyodide.code import run_js

    from tests.pyodide.seamkit import Probe, Seam

    assert run_js("typeof globalThis.scheduler?.postTask") == "undefined"
    with Seam(Probe) as seam:
        assert await seam.client(Probe).echo("sent") == "sent"
        assert seam.mainEnd.sentMessages == 1


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_a_hundred_gathered_calls_leave_in_two_messages(selenium: Any, kit: str) -> None:
    exec(kit)
    import asyncio

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import protocol

    def value(i: int) -> tuple[int, bytes, str, dict[str, bool]]:
        # Payloads of many lengths, so each frame's payload sits at its own offset in the batch; every 25th one large
        # enough to travel as a separate buffer in the same message.
        blob = bytes([i]) * (protocol.SEPARATE_ABOVE + i if i % 25 == 0 else i)
        return (i, blob, str(i) * (i % 7), {"even": i % 2 == 0})

    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        assert await probe.echo("warm up") == "warm up"
        main, worker = seam.mainEnd, seam.workerEnd
        sent, replied = main.sentMessages, worker.sentMessages

        results = await asyncio.gather(*(probe.echo(value(i)) for i in range(100)))

        assert results == [value(i) for i in range(100)]
        # The first call at once, the other 99 when the turn ended; the worker answers each message with one.
        assert main.sentMessages - sent == 2, f"100 calls left in {main.sentMessages - sent} messages"
        assert worker.sentMessages - replied == 2, f"100 replies left in {worker.sentMessages - replied} messages"
        assert main.sentFrames == worker.receivedFrames == 101
        assert worker.sentFrames == main.receivedFrames == 101
        # The counters count real posts: what the port saw, one postMessage per message.
        assert len(seam.postedBy("main")) == main.sentMessages == worker.receivedMessages
        assert len(seam.postedBy("worker")) == worker.sentMessages == main.receivedMessages
        gathered = seam.postedBy("main")[1:]
        assert sum(len(entry["sizes"]) - 1 for entry in gathered) == 4  # the four large payloads, separate
        assert seam.link.pending == {}


# Each value, described on the JavaScript side (seamkit.DESCRIBE_JS) as [tag, ...what it holds].
JS_VALUES = {
    "u8": ("new Uint8Array([0, 1, 127, 128, 255])", ["Uint8Array", 0, 5, 5, ["0", "1", "127", "128", "255"]]),
    "buffer": ("new Uint8Array([9, 8, 7]).buffer", ["ArrayBuffer", 3, [9, 8, 7]]),
    "view": ("new DataView(new Uint8Array([1, 2, 3, 4, 5, 6]).buffer, 2, 3)", ["DataView", 2, 3, 6, [3, 4, 5]]),
    "object": (
        "({name: 'plain', data: new Float64Array([1.5, -2]), nested: {ints: new Int16Array([-1, 2])}})",
        [
            "Object",
            {
                "name": ["String", "plain"],
                "data": ["Float64Array", 0, 2, 16, ["1.5", "-2"]],
                "nested": ["Object", {"ints": ["Int16Array", 0, 2, 4, ["-1", "2"]]}],
            },
        ],
    ),
    "array": (
        "[new Uint8Array([1]), new BigInt64Array([2n ** 40n]), 'text', 3]",
        [
            "Array",
            [
                ["Uint8Array", 0, 1, 1, ["1"]],
                ["BigInt64Array", 0, 1, 8, ["1099511627776"]],
                ["String", "text"],
                ["Number", "3"],
            ],
        ],
    ),
    "blob": ("new Blob(['hello'], {type: 'text/plain'})", ["Blob", 5, "text/plain"]),
    "error": ("new RangeError('out of range')", ["Error", "RangeError", "out of range"]),
}


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_JavaScript_values_cross_as_themselves_as_arguments_and_results(
    selenium: Any, kit: str, jsValues: dict[str, tuple[str, Any]]
) -> None:
    exec(kit)
    from pyodide.code import run_js
    from pyodide.ffi import JsProxy

    from tests.pyodide.seamkit import Probe, Seam, describeJs, jsCheck

    assert run_js("typeof Blob") == "function", "Node 20 has a global Blob"
    sent = {name: run_js(source) for name, (source, _) in jsValues.items()}
    for name, (_, expected) in jsValues.items():
        assert describeJs(sent[name]) == expected, f"the test's own description of {name}"
    # Nested in Python values, and the same Uint8Array twice.
    value = {"values": [sent], "pair": (sent["u8"], sent["u8"]), "python": {"n": 1}}
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        back = await probe.echo(value)
        there = seam.instance(Probe).arrived[0]
        for side, received in (("worker", there), ("main", back)):
            assert type(received) is dict
            assert type(received["values"]) is list
            assert type(received["pair"]) is tuple
            assert received["python"] == {"n": 1}
            for name, (_, expected) in jsValues.items():
                item = received["values"][0][name]
                assert isinstance(item, JsProxy), f"{side}: {name} arrived as {type(item).__qualname__}"
                assert describeJs(item) == expected, f"{side}: {name}"
                # A structured clone: another object than the one sent, even in this one thread.
                assert jsCheck("(a, b) => a !== b", sent[name], item), f"{side}: {name} is the sent object itself"
            first, second = received["pair"]
            assert jsCheck("(a, b) => a === b", first, second), f"{side}: the shared Uint8Array arrived twice"
            assert await received["values"][0]["blob"].text() == "hello"
        assert jsCheck("(a, b) => a !== b", there["values"][0]["u8"], back["values"][0]["u8"])
        # Sent without transfer(): the sender's values are untouched.
        for name, (_, expected) in jsValues.items():
            assert describeJs(sent[name]) == expected, f"sending changed {name}"
        main = seam.postedBy("main")[0]
        assert (main["shape"], main["attached"]) == ("Array", len(jsValues))  # the shared one attached once


@pytest.fixture
def jsValues() -> dict[str, tuple[str, Any]]:
    return JS_VALUES


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_JavaScript_values_made_in_the_worker_come_back_as_themselves(
    selenium: Any, kit: str, jsValues: dict[str, tuple[str, Any]]
) -> None:
    exec(kit)
    from pyodide.ffi import JsProxy

    from tests.pyodide.seamkit import Probe, Seam, describeJs, jsCheck

    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        # A Python value holding JavaScript values, made by the service ...
        made = "{" + ", ".join(f"{name!r}: [js({source!r})]" for name, (source, _) in jsValues.items()) + "}"
        back = await probe.make(made)
        there = seam.instance(Probe).made[0]
        assert type(back) is dict
        assert list(back) == list(jsValues)
        for name, (_, expected) in jsValues.items():
            assert type(back[name]) is list
            assert isinstance(back[name][0], JsProxy)
            assert describeJs(back[name][0]) == expected, name
            assert jsCheck("(a, b) => a !== b", there[name][0], back[name][0])
        # ... and a bare JavaScript result: a plain object holding typed arrays.
        source, expected = jsValues["object"]
        result = await probe.makeJs(source)
        assert isinstance(result, JsProxy)
        assert describeJs(result) == expected
        assert seam.postedBy("worker")[-1]["attached"] == 1


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_transfer_moves_an_ArrayBuffer_and_a_typed_arrays_buffer(selenium: Any, kit: str) -> None:
    exec(kit)
    from pyodide.code import run_js

    from tests.pyodide.seamkit import Probe, Seam, describeJs, jsCheck
    from workerlib import Transfer, transfer

    buffer = run_js("new Uint8Array([1, 2, 3, 4]).buffer")
    array = run_js("new Uint8Array([5, 6, 7, 8, 9]).subarray(1, 4)")  # a view: its whole buffer moves
    large = run_js("new Uint8Array(10 << 20).fill(7).buffer")
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        await probe.echo({"buffer": transfer(buffer), "nested": [transfer(array)], "large": transfer(large)})

        assert buffer.byteLength == 0, "the sender's ArrayBuffer was copied, not moved"
        assert array.byteLength == 0
        assert array.buffer.byteLength == 0, "the typed array's buffer was copied, not moved"
        assert large.byteLength == 0
        there = seam.instance(Probe).arrived[0]
        assert describeJs(there["buffer"]) == ["ArrayBuffer", 4, [1, 2, 3, 4]]
        assert describeJs(there["nested"][0]) == ["Uint8Array", 1, 3, 5, ["6", "7", "8"]]
        whole = "(b) => b.byteLength === (10 << 20) && new Uint8Array(b).every((x) => x === 7)"
        assert jsCheck(whole, there["large"]) is True, "the receiver did not get the whole 10 MB"
        main = seam.postedBy("main")[0]
        assert main["attached"] == 3
        assert main["transferred"] == 4  # the batch and the three buffers
        assert main["detached"] is True

        # A result marked with transfer() moves the worker's buffer to the main side.
        back = await probe.make("transfer(js('new Uint8Array([10, 20, 30]).buffer'))")
        made = seam.instance(Probe).made[-1]
        assert isinstance(made, Transfer)
        assert made.value.byteLength == 0, "the worker's ArrayBuffer was copied, not moved"
        assert describeJs(back) == ["ArrayBuffer", 3, [10, 20, 30]]
        back = await probe.make("[transfer(js('new Int16Array([-5, 5])'))]")
        assert seam.instance(Probe).made[-1][0].value.buffer.byteLength == 0
        assert describeJs(back[0]) == ["Int16Array", 0, 2, 4, ["-5", "5"]]


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_transfer_refuses_Python_values_and_JavaScript_values_it_cannot_move(selenium: Any) -> None:
    import re

    import pytest
    from pyodide.code import run_js

    from workerlib import transfer

    pythonValues = [(b"abc", "bytes"), (bytearray(2), "bytearray"), (5, "int"), ("s", "str"), (None, "NoneType")]
    for value, typeName in pythonValues:
        expected = rf"^transfer\(\) moves JavaScript objects \(.*\), got {typeName}; Python values such as bytes travel"
        with pytest.raises(TypeError, match=expected):
            transfer(value)
    for source, tag in [("({a: 1})", "Object"), ("[new ArrayBuffer(1)]", "Array"), ("new Blob(['x'])", "Blob")]:
        message = rf"^transfer\(\) cannot move a JavaScript {re.escape(tag)}; it moves ArrayBuffer, typed arrays"
        with pytest.raises(TypeError, match=message):
            transfer(run_js(source))


# (JavaScript source, what the error message must name after "args[0]['cb']: cannot send ")
UNCLONEABLE = [
    ("() => 1", ["function"]),
    ("({data: [1, {f: () => 1}]})", ["Object", "data[1].f", "function"]),
    ("new (class Point { constructor() { this.x = 1; } })()", ["instance of the class Point"]),
    ("new Map([[1, () => 1]])", ["Map", "<entry 0>[1]", "function"]),
    ("Symbol('s')", ["symbol"]),
]


@pytest.fixture
def uncloneable() -> list[tuple[str, list[str]]]:
    return UNCLONEABLE


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_an_uncloneable_JavaScript_value_fails_before_sending_naming_its_place(
    selenium: Any, kit: str, uncloneable: list[tuple[str, list[str]]]
) -> None:
    exec(kit)
    import asyncio

    import pytest
    from pyodide.code import run_js

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import UnsendableError

    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        main = seam.mainEnd
        for source, names in uncloneable:
            before = main.sentMessages
            with pytest.raises(UnsendableError) as raised:
                await probe.echo({"cb": run_js(source)})
            message = str(raised.value)
            assert message.startswith("args[0]['cb']: cannot send "), message
            assert all(name in message for name in names), f"{message} should name {names}"
            assert "structured clone" in message, message
            main.flush()  # anything queued would leave now
            assert main.sentMessages == before, f"{source}: something was sent"
            assert seam.link.pending == {}
        assert seam.postedBy("main") == []
        assert seam.instance(Probe).arrived == []

        with pytest.raises(UnsendableError, match=r"^kwargs\['value'\]\['cb'\]: cannot send .*function"):
            await probe.echo(value={"cb": run_js("() => 1")})
        # A call gathered with the refused one is sent and answered.
        outcomes: list[object] = list(
            await asyncio.gather(probe.echo([run_js("() => 2")]), probe.echo("fine"), return_exceptions=True)
        )
        refused, fine = outcomes
        assert isinstance(refused, UnsendableError)
        assert str(refused).startswith("args[0][0]: cannot send ")
        assert "function" in str(refused)
        assert fine == "fine"
        assert seam.instance(Probe).arrived == ["fine"]
        # An uncloneable result fails the call with the place in the result, and the worker keeps serving.
        with pytest.raises(UnsendableError, match=r"^return value: cannot send .*function"):
            await probe.makeJs("() => 3")
        assert await probe.echo({"still": "working"}) == {"still": "working"}
        assert seam.link.pending == {}


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_a_detached_ArrayBuffer_fails_its_own_call_and_no_other(selenium: Any, kit: str) -> None:
    # Structured clone cannot copy an ArrayBuffer that was transferred away (postMessage throws DataCloneError), so it
    # must fail like any other uncloneable value: before sending, with UnsendableError naming its place, the calls
    # beside it unharmed, those carrying JavaScript values of their own too.
    exec(kit)
    import asyncio

    import pytest
    from pyodide.code import run_js

    from tests.pyodide.seamkit import Probe, Seam, describeJs
    from workerlib import UnsendableError, transfer

    buffer = run_js("new ArrayBuffer(8)")
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        await probe.echo(transfer(buffer))
        assert buffer.byteLength == 0
        calls = [probe.echo({"again": buffer}), probe.echo("fine"), probe.echo([run_js("new Uint8Array([1, 2])")])]
        outcomes: list[Any] = list(await asyncio.gather(*calls, return_exceptions=True))
        detached, fine, alsoJs = outcomes
        assert fine == "fine", f"a call sent beside the detached buffer got {fine!r}"
        assert not isinstance(alsoJs, BaseException), f"a call with a Uint8Array beside the detached buffer: {alsoJs!r}"
        assert describeJs(alsoJs[0]) == ["Uint8Array", 0, 2, 2, ["1", "2"]]
        assert isinstance(detached, UnsendableError), f"sending a detached ArrayBuffer gave {detached!r}"
        assert str(detached).startswith("args[0]['again']: "), str(detached)
        # A result holding one fails the same way, naming its place in the result.
        detachedResult = "(() => { const b = new ArrayBuffer(4); structuredClone(b, {transfer: [b]}); return b; })()"
        with pytest.raises(UnsendableError, match=r"^return value\[0\]: "):
            await probe.make(f"[js({detachedResult!r})]")
        assert await probe.echo(1) == 1


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_a_frame_of_unknown_kind_is_answered_with_a_ProtocolError(selenium: Any, kit: str) -> None:
    exec(kit)
    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import ProtocolError, protocol

    with Seam(Probe) as seam:
        frame = await seam.link.request(99, b"", "x", timeout=10)
        assert frame.kind == protocol.FrameKind.REPLY
        ok, failure, _ = await protocol.decodeReply(frame.payload, frame.attached)
        assert ok is False
        error = await failure.rebuild("x")
        assert type(error) is ProtocolError
        assert "unknown kind 99" in str(error)
        assert seam.link.pending == {}
        assert await seam.client(Probe).echo("next") == "next"


MALFORMED = [
    "'not a batch'",
    "null",
    "undefined",
    "42",
    "({batch: new ArrayBuffer(8)})",
    "[]",
    "[42]",
    "new Uint8Array([1, 2, 3]).buffer",  # too short for a header
    "new Uint8Array([87, 76, 66, 1, 9, 0, 0, 0]).buffer",  # b"WLB", version 1, 9 frames announced, none there
    "[new ArrayBuffer(8), undefined, 5]",  # a separate payload that is not a buffer
    "[new Uint8Array([87, 76, 66, 1, 0, 0, 0, 0]).buffer, undefined, new ArrayBuffer(4)]",  # one separate too many
]


@pytest.fixture
def malformed() -> list[str]:
    return MALFORMED


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_malformed_messages_leave_the_session_serving(selenium: Any, kit: str, malformed: list[str]) -> None:
    exec(kit)
    from pyodide.code import run_js
    from pyodide.ffi import to_js

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import ProtocolError, protocol
    from workerlib.protocol import Frame, FrameKind

    # A well-formed batch of another protocol version, with a request of id 7.
    otherVersion = to_js(
        memoryview(protocol.packBatch([Frame(FrameKind.REQUEST, 7, b"")], version=protocol.VERSION + 1).data)
    ).buffer
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        assert await probe.echo("before") == "before"
        refused: list[tuple[ProtocolError, list[Frame]]] = []
        answered: list[Frame] = []
        onMalformed, onFrames = seam.workerEnd.onMalformed, seam.mainEnd.onFrames

        def recordMalformed(error: ProtocolError, frames: list[Frame]) -> None:
            refused.append((error, frames))
            onMalformed(error, frames)

        def recordFrames(frames: list[Frame]) -> None:
            answered.extend(frames)
            onFrames(frames)

        seam.workerEnd.onMalformed = recordMalformed
        seam.mainEnd.onFrames = recordFrames
        for source in malformed:
            seam.mainEnd.port.postMessage(run_js(source))
        seam.mainEnd.port.postMessage(otherVersion)

        # Messages on a port arrive in order: once this call is answered, the worker has seen every one before it.
        assert await probe.echo("after") == "after"
        assert seam.thrownBy("worker") == []
        assert len(refused) == len(malformed) + 1, [str(error) for error, _ in refused]
        assert all(type(error) is ProtocolError for error, _ in refused)
        assert all(frames == [] for _, frames in refused[:-1]), "an unreadable message has no frames to answer"
        error, frames = refused[-1]
        assert f"protocol version {protocol.VERSION + 1}" in str(error)
        assert [frame.id for frame in frames] == [7]
        # Each unreadable message was answered with a failure under id 0, which no call uses, and the request in the
        # batch of another version under its own id; the main side dropped them, as no call waits for them.
        failures = answered[:-1]  # the last one answers the call
        assert [frame.id for frame in failures] == [0] * len(malformed) + [7]
        for frame in failures:
            ok, failure, _ = await protocol.decodeReply(frame.payload, frame.attached)
            assert ok is False
            assert type(await failure.rebuild("x")) is ProtocolError
        assert seam.thrownBy("main") == []
        assert seam.link.pending == {}


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_a_reply_batch_of_another_version_fails_the_call_it_names(selenium: Any, kit: str) -> None:
    exec(kit)
    import asyncio

    import pytest
    from pyodide.code import run_js
    from pyodide.ffi import to_js

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import ProtocolError, protocol
    from workerlib.protocol import Frame, FrameKind

    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        service = seam.instance(Probe)
        task = asyncio.ensure_future(probe.waitForever())
        await asyncio.wait_for(service.started.wait(), 10)
        (ident,) = seam.link.pending
        # The main side cannot read something the worker posted: it says so in the log and keeps going.
        seam.workerEnd.port.postMessage(run_js("'junk'"))
        # A reply for the waiting call, in a batch of another protocol version: the call fails rather than hangs.
        reply = protocol.packBatch([Frame(FrameKind.REPLY, ident, b"")], version=protocol.VERSION + 1).data
        seam.workerEnd.port.postMessage(to_js(memoryview(reply)).buffer)
        with pytest.raises(ProtocolError, match=f"protocol version {protocol.VERSION + 1}"):
            await asyncio.wait_for(task, 10)
        assert seam.link.pending == {}
        assert seam.thrownBy("main") == []
        seam.session.running[ident].cancel()  # the worker never heard of it: stop its method
        assert await probe.echo("next") == "next"


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_a_batch_whose_attached_values_are_no_list_is_malformed_too(selenium: Any, kit: str) -> None:
    # [batch, attached, ...separate] with attached neither undefined nor an array: the handler must report it as
    # malformed like any other, not throw into JavaScript (where Node would end the process).
    exec(kit)
    from pyodide.code import run_js

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import ProtocolError
    from workerlib.protocol import Frame

    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        refused: list[ProtocolError] = []
        onMalformed = seam.workerEnd.onMalformed

        def recordMalformed(error: ProtocolError, frames: list[Frame]) -> None:
            refused.append(error)
            onMalformed(error, frames)

        seam.workerEnd.onMalformed = recordMalformed
        for source in ("[new ArrayBuffer(8), 5]", "[new ArrayBuffer(8), {}]"):
            seam.mainEnd.port.postMessage(run_js(source))
        assert await probe.echo("after") == "after"
        assert seam.thrownBy("worker") == [], "the worker end's message handler threw into JavaScript"
        assert [type(error) for error in refused] == [ProtocolError, ProtocolError]


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_cancelling_a_call_cancels_the_async_method_in_the_worker(selenium: Any, kit: str) -> None:
    exec(kit)
    import asyncio

    import pytest

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib.protocol import Frame, FrameKind

    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        service = seam.instance(Probe)
        sentFrames: list[int] = []
        send = seam.mainEnd.send

        def recordSend(frame: Frame) -> None:
            sentFrames.append(frame.kind)
            send(frame)

        seam.mainEnd.send = recordSend  # type: ignore[method-assign]

        task = asyncio.ensure_future(probe.waitForever())
        await asyncio.wait_for(service.started.wait(), 10)
        assert len(seam.link.pending) == 1
        assert len(seam.session.running) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seam.link.pending == {}
        assert sentFrames == [FrameKind.REQUEST, FrameKind.CANCEL]
        await asyncio.wait_for(service.cancelled.wait(), 10)
        assert isinstance(service.seen, asyncio.CancelledError)

        # A call answered after the cancel: the worker has finished with the cancelled one, and sent nothing for it.
        assert await probe.echo("next") == "next"
        assert seam.session.running == {}
        assert seam.session.cancelled == set()
        assert seam.workerEnd.sentFrames == 1

        # A deadline gives up the same way.
        service.started.clear()
        service.cancelled.clear()
        with pytest.raises(TimeoutError, match=r"waitForever\(\) on worker 'seam' did not answer within 0.05 s"):
            await probe.waitForever().withTimeout(0.05)
        await asyncio.wait_for(service.cancelled.wait(), 10)
        assert isinstance(service.seen, asyncio.CancelledError)
        assert sentFrames[-2:] == [FrameKind.REQUEST, FrameKind.CANCEL]
        assert seam.link.pending == {}
