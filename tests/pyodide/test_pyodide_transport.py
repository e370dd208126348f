"""``workerlib.transport`` against real JavaScript objects: payloads become ``Uint8Array``s and come back as ``bytes``.

Each test body runs inside Pyodide (imports go inside it). JavaScript values are built and inspected on the JavaScript
side with ``pyodide.code.run_js``, so the checks do not rely on the conversions under test.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_pyodide import run_in_pyodide

SMALL_PAYLOADS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00", id="nul"),
    pytest.param(b"\x00\x00\xff\x00", id="nuls-and-ff"),
    pytest.param(b"hello\x00world", id="text-with-nul"),
    pytest.param(bytes(range(256)), id="every-byte"),
]
PYTHON_BUFFERS = ["bytes", "bytearray", "memoryview"]


@pytest.mark.parametrize("kind", PYTHON_BUFFERS)
@pytest.mark.parametrize("data", SMALL_PAYLOADS)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadToJs_gives_a_Uint8Array_with_the_same_bytes(selenium: Any, data: bytes, kind: str) -> None:
    from pyodide.code import run_js
    from pyodide.ffi import JsProxy

    from workerlib.transport import payloadToJs

    value = data if kind == "bytes" else bytearray(data) if kind == "bytearray" else memoryview(data)
    array = payloadToJs(value)

    assert isinstance(array, JsProxy)
    seen = run_js("(a) => [a.constructor.name, a.length, Array.from(a), a.buffer.byteLength]")(array).to_py()
    # A buffer of its own: a view into the Wasm heap would make posting it clone the whole heap.
    assert seen == ["Uint8Array", len(data), list(data), len(data)]


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        pytest.param("memoryview(b'..payload..')[2:9]", b"payload", id="slice"),
        pytest.param("memoryview(array.array('H', [1, 0x0201]))", b"\x01\x00\x01\x02", id="uint16-items"),
        pytest.param("memoryview(bytearray(b'abcd')).cast('B', (2, 2))", b"abcd", id="two-dimensional"),
        pytest.param(
            "memoryview(b'a_b_c_')[::2]",
            b"abc",
            id="strided",
        ),
    ],
)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadToJs_takes_any_memoryview(selenium: Any, view: str, expected: bytes) -> None:
    import array  # noqa: F401  (used by the expression in ``view``)

    from pyodide.code import run_js

    from workerlib.transport import payloadToJs

    # Built in here from source: memoryview objects cannot be pickled across to Pyodide.
    seen = run_js("(a) => [a.constructor.name, Array.from(a)]")(payloadToJs(eval(view))).to_py()
    assert seen == ["Uint8Array", list(expected)]


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadToJs_copies(selenium: Any) -> None:
    from pyodide.code import run_js

    from workerlib.transport import payloadToJs

    source = bytearray(b"\x01\x02\x03")
    array = payloadToJs(source)
    source[0] = 0xFF
    # The Uint8Array owns its memory: neither a view of the bytearray nor of Pyodide's heap.
    assert run_js("(a) => [Array.from(a), a.buffer.byteLength]")(array).to_py() == [[1, 2, 3], 3]


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadToJs_one_megabyte(selenium: Any) -> None:
    from pyodide.code import run_js

    from workerlib.transport import payloadToJs

    payload = bytes(range(256)) * 4096
    array = payloadToJs(payload)
    verdict = run_js(
        """(a) => {
            if (a.constructor.name !== "Uint8Array") return `a ${a.constructor.name}`;
            if (a.length !== 1048576) return `length ${a.length}`;
            for (let i = 0; i < a.length; i++) if (a[i] !== (i & 255)) return `a[${i}] is ${a[i]}`;
            return "ok";
        }"""
    )(array)
    assert verdict == "ok"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("new Uint8Array([0, 1, 255, 0, 128])", b"\x00\x01\xff\x00\x80", id="Uint8Array"),
        pytest.param("new Uint8Array(0)", b"", id="empty-Uint8Array"),
        pytest.param("new Uint8Array([9, 1, 0, 3, 9]).subarray(1, 4)", b"\x01\x00\x03", id="Uint8Array-view"),
        pytest.param("new Uint8Array([0, 7, 0]).buffer", b"\x00\x07\x00", id="ArrayBuffer"),
        pytest.param("new ArrayBuffer(0)", b"", id="empty-ArrayBuffer"),
    ],
)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadFromJs_reads_binary_JavaScript_values(selenium: Any, source: str, expected: bytes) -> None:
    from pyodide.code import run_js

    from workerlib.transport import payloadFromJs

    result = payloadFromJs(run_js(source))
    assert type(result) is bytes
    assert result == expected


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadFromJs_one_megabyte(selenium: Any) -> None:
    from pyodide.code import run_js

    from workerlib.transport import payloadFromJs

    array = run_js("const a = new Uint8Array(1 << 20); for (let i = 0; i < a.length; i++) a[i] = i & 255; a")
    # Built on each side rather than sent from the host: pickling a megabyte through pytest-pyodide takes seconds.
    assert payloadFromJs(array) == bytes(range(256)) * 4096
    assert payloadFromJs(array.buffer) == bytes(range(256)) * 4096


@pytest.mark.parametrize(
    ("source", "typeName"),
    [
        pytest.param("({a: 1})", "JavaScript Object", id="object"),
        pytest.param("[1, 2, 3]", "JavaScript Array", id="array"),
        pytest.param("new Int8Array(2)", "JavaScript Int8Array", id="Int8Array"),
        pytest.param("new DataView(new ArrayBuffer(2))", "JavaScript DataView", id="DataView"),
        pytest.param("new String('abc')", "JavaScript String", id="String-object"),
        pytest.param("new Map()", "JavaScript Map", id="Map"),
        # Pyodide converts JavaScript primitives to Python objects (null to pyodide.ffi.jsnull, undefined to None)
        # before workerlib sees them, so the message names the Python type they became.
        pytest.param("'abc'", "str", id="string"),
        pytest.param("42", "int", id="integer"),
        pytest.param("1.5", "float", id="number"),
        pytest.param("null", "JsNull", id="null"),
        pytest.param("undefined", "NoneType", id="undefined"),
    ],
)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadFromJs_rejects_other_JavaScript_values(selenium: Any, source: str, typeName: str) -> None:
    import re

    import pytest
    from pyodide.code import run_js

    from workerlib.transport import payloadFromJs

    with pytest.raises(TypeError, match=rf"^workerlib payload must be .*, got (a )?{re.escape(typeName)}$"):
        payloadFromJs(run_js(source))


@pytest.mark.parametrize("kind", PYTHON_BUFFERS)
@pytest.mark.parametrize("data", SMALL_PAYLOADS)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadFromJs_copies_Python_buffers_into_bytes(selenium: Any, data: bytes, kind: str) -> None:
    from workerlib.transport import payloadFromJs

    value = data if kind == "bytes" else bytearray(data) if kind == "bytearray" else memoryview(data)
    result = payloadFromJs(value)

    assert type(result) is bytes
    assert result == data
    if isinstance(value, bytearray) and value:
        value[0] ^= 0xFF
        assert result == data, "the bytes must not share the bytearray's memory"


@pytest.mark.parametrize(
    ("expression", "typeName"), [("42", "int"), ("'text'", "str"), ("[1, 2]", "list"), ("None", "NoneType")]
)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_payloadFromJs_rejects_other_Python_values(selenium: Any, expression: str, typeName: str) -> None:
    import pytest

    from workerlib.transport import payloadFromJs

    with pytest.raises(TypeError, match=rf"^workerlib payload must be binary data, got {typeName}$"):
        payloadFromJs(eval(expression))


@pytest.mark.parametrize("kind", PYTHON_BUFFERS)
@pytest.mark.parametrize("size", [0, 1, 255, 4096, 1 << 20])
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_round_trip(selenium: Any, size: int, kind: str) -> None:
    import random

    from workerlib.transport import payloadFromJs, payloadToJs

    data = random.Random(size).randbytes(size)
    value = data if kind == "bytes" else bytearray(data) if kind == "bytearray" else memoryview(data)
    assert payloadFromJs(payloadToJs(value)) == bytes(value) == data


SETTLEABLE_WORKER = """() => {
    const pending = {};
    pending.promise = new Promise((resolve, reject) => Object.assign(pending, { resolve, reject }));
    return {
        pending,
        workerlib_dispatch: (request) => { pending.request = request; return pending.promise; },
    };
}"""
"""A stand-in for PyScript's worker object whose reply the test settles by hand (run_js source)."""


@pytest.fixture
def settleable() -> str:
    return SETTLEABLE_WORKER


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
async def test_send_posts_a_Uint8Array_and_its_future_gets_the_reply(selenium: Any, settleable: str) -> None:
    import asyncio

    from pyodide.code import run_js

    from workerlib.transport import payloadFromJs, payloadToJs, sender

    worker = run_js(settleable)()
    future = sender(worker)(b"request")
    assert isinstance(future, asyncio.Future)
    assert not future.done()
    assert run_js("(w) => w.pending.request.constructor.name")(worker) == "Uint8Array"
    assert payloadFromJs(worker.pending.request) == b"request"
    worker.pending.resolve(payloadToJs(b"reply"))
    assert payloadFromJs(await future) == b"reply"


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
async def test_a_reply_after_its_future_was_cancelled_or_failed_is_dropped_quietly(
    selenium: Any, settleable: str
) -> None:
    import asyncio

    from pyodide.code import run_js

    from workerlib.transport import payloadToJs, sender

    loop = asyncio.get_running_loop()
    reported: list[object] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        cancelledWorker, failedWorker = run_js(settleable)(), run_js(settleable)()
        cancelled = sender(cancelledWorker)(b"a")
        cancelled.cancel()  # a timeout or a cancelled caller
        failed = sender(failedWorker)(b"b")
        failed.set_exception(ConnectionError("the worker died"))  # what a dead worker's link does
        failed.exception()  # retrieved, as the caller would
        cancelledWorker.pending.resolve(payloadToJs(b"late"))
        failedWorker.pending.reject(run_js("new Error('late failure')"))
        # Both promises are settled now; let their handlers run (they are queued behind these awaits).
        for _ in range(3):
            await run_js("Promise.resolve()")
        await asyncio.sleep(0)
        assert cancelled.cancelled()
        assert isinstance(failed.exception(), ConnectionError)
        assert reported == []
    finally:
        loop.set_exception_handler(None)


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
async def test_a_rejected_dispatch_fails_the_future_with_the_javascript_error(selenium: Any, settleable: str) -> None:
    import pytest
    from pyodide.code import run_js
    from pyodide.ffi import JsException

    from workerlib.transport import sender

    worker = run_js(settleable)()
    future = sender(worker)(b"x")
    worker.pending.reject(run_js("new Error('the worker threw')"))
    with pytest.raises(JsException, match="the worker threw"):
        await future
