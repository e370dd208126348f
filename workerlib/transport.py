"""The boundary with JavaScript and PyScript: the only module that touches ``js``, ``pyscript`` or a ``JsProxy``.

Everything workerlib sends between threads is one ``bytes`` payload (see :mod:`workerlib.codec`). Crossing into
JavaScript it becomes a ``Uint8Array``, which structured clone copies as one block: far cheaper than letting PyScript
convert nested Python containers element by element. In a worker, one dispatcher function is registered with PyScript
under :data:`~workerlib.protocol.DISPATCHER_NAME`; the main thread calls it with a request and gets the reply back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ._runtime import importBrowserModule
from .protocol import DISPATCHER_NAME

type Dispatch = Callable[[Any], Awaitable[bytes]]


def payloadToJs(payload: bytes | bytearray | memoryview) -> Any:
    """Copy a payload into a new JavaScript ``Uint8Array`` that can be posted to another thread."""
    js = importBrowserModule("js")
    view = memoryview(payload)
    # cast() only accepts C-contiguous views; a strided slice is gathered into bytes first.
    data = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    array = js.Uint8Array.new(len(data))
    # assign() copies out of the Wasm heap: the array owns its bytes, whatever happens to the Python object later.
    array.assign(data)
    return array


def payloadFromJs(value: Any) -> bytes:
    """Copy a payload received from JavaScript (a ``Uint8Array``, ``ArrayBuffer`` or Python buffer) into ``bytes``.

    Raises ``TypeError`` naming what arrived when it is not binary data, so a malformed message is reported rather
    than silently misread.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    ffi = importBrowserModule("pyodide.ffi")
    if isinstance(value, ffi.JsProxy):
        typeName = _jsTypeName(value)
        if typeName in ("Uint8Array", "ArrayBuffer"):
            return bytes(value.to_bytes())
        raise TypeError(f"workerlib payload must be a Uint8Array or ArrayBuffer, got a JavaScript {typeName}")
    raise TypeError(f"workerlib payload must be binary data, got {type(value).__qualname__}")


def _jsTypeName(value: Any) -> str:
    js = importBrowserModule("js")
    return str(js.Object.prototype.toString.call(value))[len("[object ") : -1]


# ---- worker side ---------------------------------------------------------------------------------------------------

_installed: list[Any] = []


def installDispatcher(dispatch: Dispatch) -> None:
    """Expose ``dispatch`` to the main thread through PyScript, once per worker.

    ``dispatch`` receives whatever the main thread posted (normally a ``Uint8Array``) and returns the reply payload.
    """
    if _installed:
        return
    pyscript = importBrowserModule("pyscript")
    ffi = importBrowserModule("pyodide.ffi")

    async def entry(message: Any) -> Any:
        return payloadToJs(await dispatch(message))

    proxy = ffi.create_proxy(entry)
    _installed.append(proxy)  # the proxy lives as long as the worker: PyScript calls it for every request
    setattr(pyscript.sync, DISPATCHER_NAME, proxy)


# ---- main thread side ----------------------------------------------------------------------------------------------

WORKER_SCRIPTS = 'script[worker][name]:is([type="py"], [type="pyodide"])'


def namedWorkers() -> list[str]:
    """Names of the Pyodide workers declared on the page (in HTML or by ``create_named_worker``), in page order."""
    js = importBrowserModule("js")
    return [str(element.getAttribute("name")) for element in js.document.querySelectorAll(WORKER_SCRIPTS)]


async def workerByName(name: str) -> Any:
    """PyScript's worker object for ``name``, once that worker has finished loading."""
    pyscript = importBrowserModule("pyscript")
    return await pyscript.workers[name]


async def send(worker: Any, payload: bytes) -> bytes:
    """Post one request payload to a worker's dispatcher and return its reply payload."""
    dispatch = getattr(worker, DISPATCHER_NAME)
    return payloadFromJs(await dispatch(payloadToJs(payload)))


def mainConfig() -> dict[str, Any]:
    """The main thread's PyScript config, to start a worker with the same files and interpreter."""
    pyscript = importBrowserModule("pyscript")
    config = json.loads(json.dumps(pyscript.config))
    config.pop("type", None)
    return dict(config)


async def createWorker(src: str, name: str, config: dict[str, Any] | str) -> Any:
    """Start a named Pyodide worker running ``src`` and return PyScript's worker object once it is ready."""
    pyscript = importBrowserModule("pyscript")
    return await pyscript.create_named_worker(
        src, name, config=json.dumps(config) if isinstance(config, dict) else config
    )


def terminate(name: str) -> None:
    """Stop the named worker and remove its script element, so the name can be used again."""
    js = importBrowserModule("js")
    # querySelectorAll, not querySelector: "not found" is then an empty list rather than JavaScript's null.
    for element in js.document.querySelectorAll(f'script[worker][name="{js.CSS.escape(name)}"]'):
        element.xworker.terminate()
        element.remove()
