"""Codec payloads across the JavaScript boundary inside Pyodide: ``codec.encode`` -> ``transport.payloadToJs`` -> a
JavaScript ``Uint8Array`` (structured-cloned, or posted through a ``MessageChannel`` as the threads do) ->
``transport.payloadFromJs`` -> ``codec.decode``, for every kind of value issue 4 lists and for large data.

``test_pyodide_transport.py`` covers the raw bytes; here the bytes are real payloads and the checks are on the values
they carry. The values and the exact comparison come from the browser values page's shared module
(``tests/browser/pages/values/values_shared.py``), loaded from its source on both sides under the same module name, so
the host can also decode what Pyodide encoded and the other way round.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pytest_pyodide import run_in_pyodide

from workerlib import codec

SHARED = Path(__file__).resolve().parents[1] / "browser" / "pages" / "values" / "values_shared.py"
SOURCE = SHARED.read_text(encoding="utf-8")


def hostValues() -> Any:
    """The shared module on the host, imported once as ``values_shared`` (the name the payloads carry)."""
    module = sys.modules.get("values_shared")
    if module is None:
        spec = importlib.util.spec_from_file_location("values_shared", SHARED)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["values_shared"] = module
        spec.loader.exec_module(module)
    return module


def catalogNames() -> list[str]:
    return list(hostValues().catalog())


# Posts a Uint8Array through a MessageChannel (the browser's, or Node's worker_threads one) and resolves to what the
# other port received: the structured clone a payload goes through between threads, its buffer transferred or copied.
POST = """(a, transfer) => new Promise((resolve) => {
    const Channel = globalThis.MessageChannel ?? require("worker_threads").MessageChannel;
    const channel = new Channel();
    const finish = (data) => {
        channel.port1.close();
        channel.port2.close();
        resolve(data);
    };
    if (typeof channel.port2.on === "function") channel.port2.on("message", finish);
    else channel.port2.onmessage = (event) => finish(event.data);
    channel.port1.postMessage(a, transfer ? [a.buffer] : []);
})"""

# Each Pyodide body starts by loading the same module from SOURCE; run_in_pyodide ships only the function's own code.
LOAD = """
import sys, types
if "values_shared" not in sys.modules:
    module = types.ModuleType("values_shared")
    module.__file__ = "values_shared.py"
    sys.modules["values_shared"] = module
    exec(compile(source, "values_shared.py", "exec"), module.__dict__)
"""


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
async def crossEverything(
    selenium: Any, source: str, load: str, post: str, hostPayloads: dict[str, bytes]
) -> dict[str, dict[str, Any]]:
    """In Pyodide, for every catalog value: encode, through JavaScript and back, decode, compare; and decode the host's
    payload of the same value. One run for all values (each run_in_pyodide call costs a round trip to Node)."""
    exec(load, {"source": source})
    import sys
    import traceback

    from pyodide.code import run_js

    from workerlib import codec
    from workerlib.transport import payloadFromJs, payloadToJs

    shared = sys.modules["values_shared"]
    postAcross = run_js(post)
    typeName = run_js("(a) => Object.prototype.toString.call(a)")
    report: dict[str, dict[str, Any]] = {}
    for name, expected in shared.catalog().items():
        entry = report[name] = {}
        try:
            payload = codec.encode(expected)
            entry["payload"] = payload
            array = payloadToJs(payload)
            entry["jsType"] = [typeName(array), array.length == len(payload)]
            received = await postAcross(array, False)
            entry["through"] = shared.difference(expected, codec.decode(payloadFromJs(received)))
            fromHost = await postAcross(payloadToJs(hostPayloads[name]), True)
            entry["fromHost"] = shared.difference(expected, codec.decode(payloadFromJs(fromHost)))
        except Exception:
            entry["error"] = traceback.format_exc()
    return report


_crossed: dict[str, dict[str, Any]] = {}


@pytest.fixture
def crossed(selenium: Any) -> dict[str, dict[str, Any]]:
    """What crossEverything reported, computed by the first test that asks and shared by the others."""
    if not _crossed:
        shared = hostValues()
        hostPayloads = {name: codec.encode(value) for name, value in shared.catalog().items()}
        _crossed.update(crossEverything(selenium, SOURCE, LOAD, POST, hostPayloads))
    return _crossed


@pytest.mark.parametrize("name", catalogNames())
def test_every_value_crosses_the_javascript_boundary(crossed: dict[str, dict[str, Any]], name: str) -> None:
    entry = crossed[name]
    assert "error" not in entry, entry["error"]
    assert entry["jsType"] == ["[object Uint8Array]", True]
    assert entry["through"] is None, f"through a MessageChannel: {entry['through']}"
    assert entry["fromHost"] is None, f"encoded on the host: {entry['fromHost']}"
    # And what Pyodide encoded decodes the same in the host's CPython.
    shared = hostValues()
    found = shared.difference(shared.catalog()[name], codec.decode(entry["payload"]))
    assert found is None, f"encoded in Pyodide: {found}"


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
async def largeAcross(selenium: Any, source: str, load: str, post: str, name: str) -> None:
    exec(load, {"source": source})
    import sys

    from pyodide.code import run_js

    from workerlib import codec
    from workerlib.transport import payloadFromJs, payloadToJs

    shared = sys.modules["values_shared"]
    expected = shared.large(name)
    array = payloadToJs(codec.encode(expected))
    size = array.length
    received = await run_js(post)(array, True)  # transferred, as a worker's reply would be
    assert array.length == 0, "the buffer was transferred, not copied"
    assert received.length == size
    found = shared.largeDifference(expected, codec.decode(payloadFromJs(received)))
    assert found is None, found


@pytest.mark.parametrize("name", ["ints-1M", "bytes-10MB", "records-10k"])
def test_large_values_cross_a_message_channel(selenium: Any, name: str) -> None:
    # The value is built in Pyodide: pickling megabytes from the host through pytest-pyodide takes seconds.
    largeAcross(selenium, SOURCE, LOAD, POST, name)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("({a: 1})", id="Object"),
        pytest.param("[1, 2]", id="Array"),
        pytest.param("new Uint8Array([1, 2])", id="Uint8Array"),
        pytest.param("new ArrayBuffer(2)", id="ArrayBuffer"),
        pytest.param("new Map([[1, 2]])", id="Map"),
        pytest.param("(x) => x", id="function"),
        pytest.param("Promise.resolve(1)", id="Promise"),
        pytest.param("null", id="null"),
    ],
)
@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_a_JavaScript_object_inside_a_value_is_refused_by_its_place(selenium: Any, source: str) -> None:
    import pytest
    from pyodide.code import run_js

    import workerlib
    from workerlib import codec

    jsValue = run_js(source)
    with pytest.raises(TypeError) as raised:
        codec.encode((1, {"js": [0, jsValue]}), where="args")
    assert isinstance(raised.value, workerlib.UnsendableError)
    message = str(raised.value)
    assert message.startswith("args[1]['js'][1]: cannot send "), message
    assert type(jsValue).__qualname__ in message, f"the message should name the proxy's type: {message}"
    assert "register an adapter with @adapter(" in message


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_a_JavaScript_error_crosses_whole_or_is_refused(selenium: Any) -> None:
    # pyodide.ffi.JsException is an Exception subclass, and exceptions cross; but it wraps a JavaScript object, which
    # cannot. Pyodide pickles it as (name, message, stack), so it may cross whole; it must never arrive half built.
    from pyodide.code import run_js

    import workerlib
    from workerlib import codec

    error = run_js("new TypeError('from JavaScript')")
    try:
        payload = codec.encode({"error": error})
    except workerlib.UnsendableError as refused:
        refusal: str | None = str(refused)
    else:
        refusal = None
    if refusal is not None:
        assert refusal.startswith("value['error']: cannot send "), refusal
        return
    back = codec.decode(payload)["error"]
    assert type(back) is type(error)
    assert "TypeError" in str(back)
    assert "from JavaScript" in str(back)


@run_in_pyodide(packages=["workerlib"])  # type: ignore[untyped-decorator]
def test_a_payload_decodes_from_a_view_into_a_larger_JavaScript_buffer(selenium: Any) -> None:
    # A Uint8Array that starts part way into its ArrayBuffer, as when a message carries several payloads.
    import datetime

    from pyodide.code import run_js

    from workerlib import codec
    from workerlib.transport import payloadFromJs, payloadToJs

    value = {"when": datetime.datetime(2026, 1, 1), "items": [(1, 2.5), {"x"}], "data": b"\x00" * 100}
    payload = codec.encode(value)
    embedded = run_js(
        """(a) => {
            const big = new Uint8Array(a.length + 64).fill(0x80);
            big.set(a, 32);
            return big.subarray(32, 32 + a.length);
        }"""
    )(payloadToJs(payload))
    assert codec.decode(payloadFromJs(embedded)) == value


def test_the_shared_module_is_the_browser_pages_own() -> None:
    # The catalog exercised here is the one the browser values page sends; make sure it loaded and is not empty.
    module: ModuleType = hostValues()
    assert len(module.catalog()) > 50
    assert module.difference(module.catalog(), module.catalog()) is None
