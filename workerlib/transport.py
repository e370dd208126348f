"""The boundary with JavaScript and PyScript: the only module that touches ``js``, ``pyscript`` or a ``JsProxy``.

Everything workerlib sends between threads is one ``bytes`` payload (see :mod:`workerlib.codec`). Crossing into
JavaScript it becomes a ``Uint8Array``, which structured clone copies as one block: far cheaper than letting PyScript
convert nested Python containers element by element. In a worker, one dispatcher function is registered with PyScript
under :data:`~workerlib.protocol.DISPATCHER_NAME`; the main thread calls it with a request and gets the reply back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Any

from ._runtime import importBrowserModule
from .protocol import DISPATCHER_NAME

type Dispatch = Callable[[Any], Coroutine[Any, Any, bytes]]


@cache
def _js() -> Any:
    return importBrowserModule("js")


@cache
def _ffi() -> Any:
    return importBrowserModule("pyodide.ffi")


def payloadToJs(payload: bytes | bytearray | memoryview) -> Any:
    """Copy a payload into a new JavaScript ``Uint8Array`` that can be posted to another thread."""
    view = memoryview(payload)
    # cast() only accepts C-contiguous views; a strided slice is gathered into bytes first.
    data = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    # to_js copies a buffer out of the Wasm heap into a Uint8Array with an ArrayBuffer of its own (measured: a third
    # of the time of Uint8Array.new + assign for a small payload), so posting it never clones the heap.
    return _ffi().to_js(data)


def payloadFromJs(value: Any) -> bytes:
    """Copy a payload received from JavaScript (a ``Uint8Array``, ``ArrayBuffer`` or Python buffer) into ``bytes``.

    Raises ``TypeError`` naming what arrived when it is not binary data, so a malformed message is reported rather
    than silently misread.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, _ffi().JsProxy):
        typeName = _jsTypeName(value)
        if typeName in ("Uint8Array", "ArrayBuffer"):
            return bytes(value.to_bytes())
        raise TypeError(f"workerlib payload must be a Uint8Array or ArrayBuffer, got a JavaScript {typeName}")
    raise TypeError(f"workerlib payload must be binary data, got {type(value).__qualname__}")


def _jsTypeName(value: Any) -> str:
    return str(_objectTag()(value))[len("[object ") : -1]


@cache
def _objectTag() -> Any:
    # Object.prototype.toString bound as a plain function: one JavaScript call per check, on every message.
    js = _js()
    return js.Function.prototype.call.bind(js.Object.prototype.toString)


# ---- worker side ---------------------------------------------------------------------------------------------------


class _Serving:
    """What this worker set up to serve: the dispatcher's proxy, and the lock it holds while it lives."""

    proxy: Any = None  # kept for the worker's lifetime: PyScript calls it for every request
    lifeLock: asyncio.Future[str | None] | None = None


_serving = _Serving()


def installDispatcher(dispatch: Dispatch) -> None:
    """Expose ``dispatch`` to the main thread through PyScript, once per worker.

    ``dispatch`` receives whatever the main thread posted (normally a ``Uint8Array``) and returns the reply payload.
    The worker also takes a Web Lock it never releases: the browser frees it when the worker dies, which is how the
    main thread learns of a worker that crashed or was terminated (PyScript leaves its pending calls hanging).
    """
    if _serving.proxy is not None:
        return
    pyscript = importBrowserModule("pyscript")
    ffi = importBrowserModule("pyodide.ffi")
    loop = asyncio.get_event_loop()
    # Promise.withResolvers() spelled out, for browsers older than 2024.
    resolvable = _js().Function.new(
        "const r = {}; r.promise = new Promise((resolve, reject) => Object.assign(r, { resolve, reject })); return r;"
    )

    def entry(message: Any) -> Any:
        # An eager task runs its first step right here, as a task (asyncio.timeout and friends work). A call that
        # never has to wait (a sync method, sync adapters) is then already done, and the reply goes back from this
        # plain function: PyScript answers a sync export at about half the cost of an async one.
        task: asyncio.Task[bytes] = asyncio.Task(dispatch(message), loop=loop, eager_start=True)
        if task.done():
            return payloadToJs(task.result())
        resolvers = resolvable()
        # dispatch() never raises: every failure is a reply.
        task.add_done_callback(lambda done: resolvers.resolve(payloadToJs(done.result())))
        return resolvers.promise

    _serving.proxy = ffi.create_proxy(entry)
    setattr(pyscript.sync, DISPATCHER_NAME, _serving.proxy)
    _serving.lifeLock = loop.create_future()
    _holdLifeLock(_serving.lifeLock)


def _holdLifeLock(held: asyncio.Future[str | None]) -> None:
    js = _js()
    ffi = importBrowserModule("pyodide.ffi")
    locks = getattr(js.navigator, "locks", None)
    if locks is None:  # not a secure context: dead workers are then noticed by timeouts only
        held.set_result(None)
        return
    name = f"workerlib-life-{uuid.uuid4().hex}"
    never = js.Function.new("return new Promise(() => {})")

    def granted(*_: Any) -> Any:
        if not held.done():
            held.set_result(name)
        return never()  # a promise that never settles: the lock is held until the worker's thread ends

    locks.request(name, ffi.create_once_callable(granted))


async def lifeLock() -> str | None:
    """The name of the lock this worker holds while it lives, once it holds it; ``None`` where there is none."""
    if _serving.lifeLock is None:
        return None
    return await _serving.lifeLock


# ---- main thread side ----------------------------------------------------------------------------------------------

WORKER_SCRIPTS = 'script[worker][name]:is([type="py"], [type="pyodide"])'


def namedWorkers() -> list[str]:
    """Names of the Pyodide workers declared on the page (in HTML or by ``create_named_worker``), in page order."""
    js = _js()
    return [str(element.getAttribute("name")) for element in js.document.querySelectorAll(WORKER_SCRIPTS)]


async def workerByName(name: str) -> Any:
    """PyScript's worker object for ``name``, once that worker has finished loading."""
    pyscript = importBrowserModule("pyscript")
    return await pyscript.workers[name]


def sender(worker: Any) -> Callable[[bytes], asyncio.Future[Any]]:
    """A function that posts request payloads to the worker's dispatcher: see :func:`send`."""
    dispatch = getattr(worker, DISPATCHER_NAME)  # looked up once: every call of the worker goes through it
    return lambda payload: send(dispatch, payload)


def send(dispatch: Any, payload: bytes) -> asyncio.Future[Any]:
    """Post one request payload to a worker's dispatcher; the future gets the reply (see :func:`payloadFromJs`).

    The future is the one Pyodide's own ``await`` on the reply's promise would wait on: its fastest path from a
    settled promise back into Python. Setting it from outside (a dead worker) or cancelling it (a timeout, a cancelled
    task) is safe: a late reply finds it done and is dropped.
    """
    waiting = dispatch(payloadToJs(payload)).__await__()
    try:
        future = next(waiting)  # the future Pyodide made for the promise, which it yields to whoever awaits
    except StopIteration as settled:
        future = asyncio.get_running_loop().create_future()
        future.set_result(settled.value)
        return future
    if not isinstance(future, asyncio.Future):
        raise RuntimeError(f"awaiting a JavaScript promise yielded {future!r}, not an asyncio future")
    # It was yielded as if to a task; it is awaited again later, by the caller.
    future._asyncio_future_blocking = False
    return future


def watchLifeLock(name: str, onDeath: Callable[[], None]) -> Callable[[], None]:
    """Call ``onDeath`` once the worker holding the lock ``name`` is gone; returns a function that stops watching."""
    js = _js()
    ffi = importBrowserModule("pyodide.ffi")
    controller = js.AbortController.new()
    callback = ffi.create_once_callable(lambda *_: onDeath())
    options = ffi.to_js({"signal": controller.signal}, dict_converter=js.Object.fromEntries)
    waiting = js.navigator.locks.request(name, options, callback)
    # Aborting rejects the request; swallow that so the console stays clean.
    waiting.catch(lambda _error: None)

    def stop() -> None:
        controller.abort()
        with contextlib.suppress(Exception):  # already called, and so already released
            callback.destroy()

    return stop


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
    js = _js()
    # querySelectorAll, not querySelector: "not found" is then an empty list rather than JavaScript's null.
    for element in js.document.querySelectorAll(f'script[worker][name="{js.CSS.escape(name)}"]'):
        element.xworker.terminate()
        element.remove()
