"""Values through the real seam inside Pyodide on Node: every kind of value the browser values page sends, and large
data, crosses the JavaScript boundary between two ``ports.PortChannel`` ends on one ``MessageChannel`` (a
``server.Session`` serving a test service on one, a ``client.Link`` and a client on the other) and arrives exact, in
the "worker" and back on the main side.

The values and the exact comparison come from the browser values page's shared module
(``tests/browser/pages/values/values_shared.py``), loaded from its source on both sides under the same module name,
so the host also decodes what Pyodide encoded, and payloads the host encoded cross the seam as ``bytes`` and decode in
Pyodide (except, on Python 3.14, those naming ``pathlib._local``: see ``docs/testing.rst``).

Then the codec's side of JavaScript values: with a channel's collector they travel beside the payload, referred to by
index; without one (``attachments=None``, as on the loopback) a JavaScript object is refused by its place.
``test_pyodide_transport.py`` covers the channel itself: bytes, batching, JavaScript values, ``transfer()``,
malformed messages and cancelling.

Each Pyodide test body starts with ``exec(kit)``, which installs ``tests/pyodide/seamkit.py`` there (see
``conftest.kit``).
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


# Each Pyodide body loads the same module from SOURCE; run_in_pyodide ships only the function's own code.
LOAD = """
import sys, types
if "values_shared" not in sys.modules:
    module = types.ModuleType("values_shared")
    module.__file__ = "values_shared.py"
    sys.modules["values_shared"] = module
    exec(compile(source, "values_shared.py", "exec"), module.__dict__)
"""


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def crossEverything(
    selenium: Any, kit: str, source: str, load: str, hostPayloads: dict[str, bytes]
) -> dict[str, dict[str, Any]]:
    """In Pyodide, every catalog value through the seam: all in one batch, each as its own call (compared where the
    worker got it and where the main side got it back); the whole catalog as one value; and the host's payload of
    each value as bytes, decoded here. One run for all values (each run_in_pyodide call costs a round trip to Node)."""
    exec(kit)
    exec(load, {"source": source})
    import asyncio
    import sys
    import traceback

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import codec

    shared = sys.modules["values_shared"]
    catalog = shared.catalog()
    names = list(catalog)
    report: dict[str, dict[str, Any]] = {name: {} for name in [*names, "(whole catalog)"]}
    report["(whole catalog)"]["python"] = tuple(sys.version_info[:2])
    with Seam(Probe) as seam:
        probe = seam.client(Probe)
        calls = (probe.echo(catalog[name], name=name) for name in names)
        returned = await asyncio.gather(*calls, return_exceptions=True)
        report["(whole catalog)"]["messages"] = seam.mainEnd.sentMessages
        arrived = {kwargs["name"]: value for value, kwargs in seam.instance(Probe).arrived}
        fresh = shared.catalog()
        for name, back in zip(names, returned, strict=True):
            entry = report[name]
            if isinstance(back, BaseException):
                entry["error"] = "".join(traceback.format_exception(back))
                continue
            entry["arrived"] = shared.difference(fresh[name], arrived[name])
            entry["returned"] = shared.difference(fresh[name], back)
        try:
            whole = await probe.echo(catalog)
            report["(whole catalog)"]["returned"] = shared.difference(shared.catalog(), whole)
        except Exception:
            report["(whole catalog)"]["error"] = traceback.format_exc()
        fromHost = await asyncio.gather(*(probe.echo(hostPayloads[name]) for name in names), return_exceptions=True)
        for name, payload in zip(names, fromHost, strict=True):
            entry = report[name]
            try:
                entry["payload"] = codec.encode(fresh[name])
                if isinstance(payload, BaseException):
                    raise payload
                entry["hostBytesExact"] = type(payload) is bytes and payload == hostPayloads[name]
                try:
                    entry["fromHost"] = shared.difference(fresh[name], codec.decode(payload))
                except codec.DecodeError as refused:
                    entry["fromHostRefused"] = str(refused)
            except Exception:
                entry["error"] = traceback.format_exc()
    return report


_crossed: dict[str, dict[str, Any]] = {}


@pytest.fixture
def crossed(selenium: Any, kit: str) -> dict[str, dict[str, Any]]:
    """What crossEverything reported, computed by the first test that asks and shared by the others."""
    if not _crossed:
        shared = hostValues()
        hostPayloads = {name: codec.encode(value) for name, value in shared.catalog().items()}
        _crossed.update(crossEverything(selenium, kit, SOURCE, LOAD, hostPayloads))
    return _crossed


@pytest.mark.parametrize("name", catalogNames())
def test_every_value_crosses_the_seam_exactly(crossed: dict[str, dict[str, Any]], name: str) -> None:
    entry = crossed[name]
    assert "error" not in entry, entry["error"]
    assert entry["arrived"] is None, f"as the worker got it: {entry['arrived']}"
    assert entry["returned"] is None, f"back on the main side: {entry['returned']}"
    assert entry["hostBytesExact"] is True, "the host's payload did not cross the seam as the same bytes"
    if "fromHostRefused" in entry:
        # The one known difference between interpreters (docs/testing.rst): the host's CPython 3.13 names pathlib's
        # classes by their private module pathlib._local, which Python 3.14 (Pyodide 314) does not have.
        refusal = entry["fromHostRefused"]
        assert crossed["(whole catalog)"]["python"] >= (3, 14), f"encoded on the host: {refusal}"
        assert b"pathlib._local" in codec.encode(hostValues().catalog()[name]), refusal
        assert "module 'pathlib._local' is not imported on this side" in refusal, refusal
    else:
        assert entry["fromHost"] is None, f"encoded on the host: {entry['fromHost']}"
    # And what Pyodide encoded decodes the same in the host's CPython.
    shared = hostValues()
    found = shared.difference(shared.catalog()[name], codec.decode(entry["payload"]))
    assert found is None, f"encoded in Pyodide: {found}"


def test_the_whole_catalog_crosses_as_one_value(crossed: dict[str, dict[str, Any]]) -> None:
    entry = crossed["(whole catalog)"]
    assert "error" not in entry, entry["error"]
    assert entry["returned"] is None, entry["returned"]
    # The calls of every value, gathered, left in two messages: the first call's at once, the rest as the turn ended.
    assert entry["messages"] == 2


@pytest.mark.parametrize("name", ["ints-1M", "bytes-10MB", "records-10k"])
@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
async def test_large_values_cross_the_seam_in_separate_buffers(
    selenium: Any, kit: str, source: str, load: str, name: str
) -> None:
    # The value is built in Pyodide: pickling megabytes from the host through pytest-pyodide takes seconds.
    exec(kit)
    exec(load, {"source": source})
    import pickle
    import sys

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import protocol

    shared = sys.modules["values_shared"]
    expected = shared.large(name)
    with Seam(Probe) as seam:
        back = await seam.client(Probe).echo(expected)
        found = shared.largeDifference(expected, seam.instance(Probe).arrived[0])
        assert found is None, f"as the worker got it: {found}"
        # The same check, faster than a second largeDifference (seconds for 10,000 records): equal pickles hold the
        # same types, values, float bits, order and sharing.
        assert pickle.dumps(back, protocol=5) == pickle.dumps(expected, protocol=5), "back on the main side"
        for side in ("main", "worker"):
            (entry,) = seam.postedBy(side)
            assert entry["shape"] == "Array", f"{side}: a large payload travelled inside the batch"
            batch, payload = entry["sizes"]
            assert batch < protocol.SEPARATE_ABOVE <= payload
            assert entry["detached"] is True, f"{side}: the payload's buffer was copied, not moved"


@pytest.fixture
def source() -> str:
    return SOURCE


@pytest.fixture
def load() -> str:
    return LOAD


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_JavaScript_values_travel_beside_the_payload_by_index(selenium: Any, kit: str) -> None:
    exec(kit)
    import pytest
    from pyodide.code import run_js

    from tests.pyodide.seamkit import Probe, Seam
    from workerlib import DecodeError, codec, transfer

    array = run_js("new Uint8Array([1, 2])")
    thing = run_js("({a: [1, 2]})")
    buffer = run_js("new ArrayBuffer(4)")
    marked = transfer(buffer)
    value = {"a": [array, 1], "b": (thing, array), "c": {"deep": [[thing]]}, "moved": marked, "n": 2**70}
    with Seam(Probe) as seam:
        attachments: Any = seam.mainEnd.attachments()
        payload = codec.encode(value, attachments=attachments)
        # Each distinct JavaScript value once, in the order met; the marked buffer also in the list to move.
        assert len(attachments.values) == 3
        assert attachments.values[0] is array
        assert attachments.values[1] is thing
        assert attachments.values[2] is buffer
        assert len(attachments.transfer) == 1
        assert attachments.transfer[0] is marked.transferable
        # Decoding with the same values puts each back at all its places; the payload alone cannot.
        decoded = codec.decode(payload, attached=attachments.values)
        assert decoded["a"][0] is array
        assert decoded["b"][1] is array
        assert decoded["b"][0] is thing
        assert decoded["c"]["deep"][0][0] is thing
        assert decoded["moved"] is buffer
        assert decoded["n"] == 2**70
        with pytest.raises(DecodeError, match=r"it refers to an attached value, and none came with it"):
            codec.decode(payload)


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
@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_without_a_channel_a_JavaScript_object_is_refused_by_its_place(selenium: Any, source: str) -> None:
    # codec.encode with no attachments collector (a channel that carries none, like the loopback) sends no JsProxy.
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


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_without_a_channel_a_JavaScript_error_crosses_whole_or_is_refused(selenium: Any) -> None:
    # pyodide.ffi.JsException is an Exception subclass, and exceptions cross; but it wraps a JavaScript object, which
    # cannot without a channel. Pyodide pickles it as (name, message, stack), so it may cross whole; it must never
    # arrive half built.
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
        # An exception crosses as its args and attributes: the message names the part that cannot.
        assert refusal.startswith("value['error']"), refusal
        assert ": cannot send " in refusal, refusal
        return
    back = codec.decode(payload)["error"]
    assert type(back) is type(error)
    assert "TypeError" in str(back)
    assert "from JavaScript" in str(back)


def test_the_shared_module_is_the_browser_pages_own() -> None:
    # The catalog exercised here is the one the browser values page sends; make sure it loaded and is not empty.
    module: ModuleType = hostValues()
    assert len(module.catalog()) > 50
    assert module.difference(module.catalog(), module.catalog()) is None
