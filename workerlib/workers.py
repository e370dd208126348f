"""Finding, starting and stopping workers, and the handshake that opens a channel to one.

On the main thread, :func:`openChannel` asks a loaded worker for its protocol version through PyScript (the one
function a workerlib worker exports, :data:`PROBE_NAME`), then hands it one port of a new ``MessageChannel`` (and,
where the page is cross-origin isolated, the interrupt buffer). In the worker, :func:`acceptPorts` picks the port up
and takes a Web Lock it never releases: the browser frees it when the worker dies, which is how the main thread
(:func:`watchLifeLock`) learns of a worker that crashed or was terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from typing import Any

from . import protocol
from ._runtime import importBrowserModule
from .errors import ConnectError, WorkerClosedError
from .ports import INTERRUPT_SLOTS, PortChannel, _ffi, _helpers, _js, _watchInterrupts, interruptsAvailable

log = logging.getLogger("workerlib.workers")

# ---- the handshake -------------------------------------------------------------------------------------------------

PROBE_NAME = "workerlib_probe"
"""The one function a workerlib worker exports through PyScript: it answers the protocol version, before a port is
handed over, so a worker that does not run workerlib is told apart without posting anything to it."""
PORT_MARK = "workerlib-port"
"""The key of the message that hands a port to a worker."""

_QUIET_JS = r"""
(xworker, mark) => {
  // PyScript hands every message posted to the worker to xworker.onmessage, console.info by default: keep
  // workerlib's handshake out of the console, and everything else as it was.
  if (xworker.onmessage === console.info) {
    xworker.onmessage = (event) => { if (!(event.data && event.data[mark] !== undefined)) console.info(event); };
  }
}
"""
_ACCEPT_JS = r"""
(mark, handler) => addEventListener("message", (event) => {
  if (event.data && event.data[mark] !== undefined && event.ports.length === 1) {
    handler(event.ports[0], event.data.interrupts ?? undefined);
  }
})
"""


def _pyodideApi() -> Any:
    """Pyodide's internal API object (``on_fatal`` lives there), or None where this Pyodide has none."""
    try:
        import pyodide_js  # type: ignore[import-not-found]  # only in Pyodide

        return getattr(pyodide_js, "_api", None)
    except Exception:
        return None


class _Serving:
    """What this worker set up to serve: its port listener and probe, and the lock it holds while it lives."""

    def __init__(self) -> None:
        self.proxies: list[Any] = []  # kept for the worker's lifetime: JavaScript calls them
        self.lifeLock: asyncio.Future[str | None] | None = None


_serving = _Serving()


def acceptPorts(onChannel: Callable[[PortChannel], None]) -> None:
    """In a worker: hand each port the main thread sends (:func:`openChannel`) to ``onChannel``, once per worker.

    Also exports the probe and takes a Web Lock the worker never releases: the browser frees it when the worker dies,
    which is how the main thread learns of a worker that crashed or was terminated.
    """
    if _serving.proxies:
        return
    js = _js()
    ffi = _ffi()
    pyscript = importBrowserModule("pyscript")
    main = sys.modules.get("__main__")
    if main is not None and "xworker" not in vars(main):
        # PyScript looks up xworker.onmessage in the worker's main module for every message posted to the worker and
        # reports an error on the page when the name is missing.
        vars(main)["xworker"] = importBrowserModule("polyscript").xworker
    js.Function.new(f"return {_QUIET_JS.strip()}")()(importBrowserModule("polyscript").xworker, PORT_MARK)

    def accept(port: Any, interrupts: Any = None) -> None:
        try:
            if interrupts is not None:
                try:
                    _watchInterrupts(interrupts)
                except Exception:
                    log.exception("cannot watch the interrupt buffer: a cancelled sync method will run to its end")
                    interrupts = None
            onChannel(PortChannel(port, "main thread", interrupts))
            _helpers().reportDeath(_pyodideApi(), port)
        except Exception:
            log.exception("could not serve a port handed over by the main thread")

    acceptor = ffi.create_proxy(accept)
    probe = ffi.create_proxy(lambda: protocol.VERSION)
    _serving.proxies = [acceptor, probe]
    js.Function.new(f"return {_ACCEPT_JS.strip()}")()(PORT_MARK, acceptor)
    setattr(pyscript.sync, PROBE_NAME, probe)
    _serving.lifeLock = asyncio.get_event_loop().create_future()
    _holdLifeLock(_serving.lifeLock)


def _holdLifeLock(held: asyncio.Future[str | None]) -> None:
    js = _js()
    ffi = _ffi()
    locks = getattr(js.navigator, "locks", None)
    if locks is None:  # not a secure context: dead workers are then noticed by timeouts only
        held.set_result(None)
        return
    name = f"{protocol.LIFE_LOCK_PREFIX}{uuid.uuid4().hex}"
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


async def openChannel(name: str, worker: Any) -> PortChannel:
    """On the main thread: make a channel to the named worker, which has finished loading, and hand it one port.

    Raises :class:`~workerlib.ConnectError` when the worker does not run workerlib, or another protocol version.
    """
    try:
        version = await getattr(worker, PROBE_NAME)()
    except Exception as error:
        raise ConnectError(
            f"worker {name!r} does not answer workerlib requests ({type(error).__name__}: {error}); "
            f"does its code import workerlib and define a WorkerService subclass or call export() or exportFrom()?"
        ) from error
    if version != protocol.VERSION:
        raise ConnectError(
            f"worker {name!r} speaks workerlib protocol version {version!r}, this page version {protocol.VERSION}: "
            f"load the same workerlib on the main thread and in the worker"
        )
    element = _scriptElement(name)
    if element is None:
        raise WorkerClosedError(f"worker {name!r} is no longer on the page")
    js = _js()
    ffi = _ffi()
    channel = js.MessageChannel.new()
    handshake: dict[str, Any] = {PORT_MARK: protocol.VERSION}
    interrupts = None
    if interruptsAvailable():
        interrupts = handshake["interrupts"] = js.Int32Array.new(js.SharedArrayBuffer.new(4 * INTERRUPT_SLOTS))
    message = ffi.to_js(handshake, dict_converter=js.Object.fromEntries)
    element.xworker.postMessage(message, ffi.to_js([channel.port2]))
    return PortChannel(channel.port1, name, interrupts)


# ---- finding, starting and stopping workers (main thread) ----------------------------------------------------------

WORKER_SCRIPTS = 'script[worker][name]:is([type="py"], [type="pyodide"])'


def _scriptElement(name: str) -> Any:
    js = _js()
    found = js.document.querySelectorAll(f'script[worker][name="{js.CSS.escape(name)}"]')
    return found[0] if found.length else None


def namedWorkers() -> list[str]:
    """Names of the Pyodide workers declared on the page (in HTML or by ``create_named_worker``), in page order."""
    js = _js()
    return [str(element.getAttribute("name")) for element in js.document.querySelectorAll(WORKER_SCRIPTS)]


async def workerByName(name: str) -> Any:
    """PyScript's worker object for ``name``, once that worker has finished loading."""
    pyscript = importBrowserModule("pyscript")
    return await pyscript.workers[name]


def watchLifeLock(name: str, onDeath: Callable[[], None]) -> Callable[[], None]:
    """Call ``onDeath`` once the worker holding the lock ``name`` is gone; returns a function that stops watching."""
    js = _js()
    ffi = _ffi()
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


CONFIG_URL = re.compile(r"\.(json|toml|txt)(\?\S*)?$")
"""How PyScript tells a config file's URL from a config written inline: by the file's extension."""


def visibleConfig() -> dict[str, Any]:
    """This thread's PyScript config, as far as Python can see it.

    On the main thread it is the whole parsed config, custom sections included. In a worker PyScript hands Python only
    what the ``config`` attribute says: a config written inline (JSON or TOML, as ``create_named_worker`` and
    ``spawn`` pass it) is parsed here; a config file's URL gives nothing, so its sections stay unseen (empty dict):
    the main thread reads that file when it connects (:func:`workerConfig`).
    """
    pyscript = importBrowserModule("pyscript")
    if not pyscript.RUNNING_IN_WORKER:
        return dict(pyscript.config)  # pyscript.context parsed it into a dict of plain values
    raw = importBrowserModule("polyscript").config
    if not isinstance(raw, str):
        return dict(pyscript.config)
    if CONFIG_URL.search(raw.strip()):
        return {}  # PyScript fetched and used the file but keeps its content from Python
    return parseConfig(raw)


async def workerConfig(name: str) -> dict[str, Any]:
    """On the main thread: the config the named worker was started with, as its ``<script>`` element's ``config``
    attribute gives it: written inline (as ``spawn`` writes it), or a file's URL, fetched here. Empty when there is
    none or it cannot be read: it is read to be checked, never to run the worker."""
    element = _scriptElement(name)
    raw = element.getAttribute("config") if element is not None else None
    if not isinstance(raw, str) or not raw.strip():
        return {}
    found = CONFIG_URL.search(raw.strip())
    if found is None:
        return parseConfig(raw)
    js = _js()
    try:
        response = await js.fetch(js.URL.new(raw.strip(), js.document.baseURI).href)
        if not response.ok:
            return {}
        text = str(await response.text())
    except Exception:
        return {}
    return parseConfig(text, isJson=found.group(1) == "json")


def parseConfig(text: str, *, isJson: bool | None = None) -> dict[str, Any]:
    """A config's text as a dict: JSON (by default when it starts with ``{``) or TOML; empty when it is neither."""
    text = text.strip()
    try:
        import tomllib  # here: only a config given as TOML text needs it, not every worker's start

        parsed = json.loads(text) if (isJson if isJson is not None else text.startswith("{")) else tomllib.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


CONFIG_FILE_SUFFIX = "#workerlib-config.json"
"""Ends the Blob URL :func:`configFile` makes, so that PyScript reads it as a JSON config file (by its extension)."""

_configFiles: dict[str, str] = {}
"""The Blob URL made for each config's JSON text: a pool's workers share one, whatever it starts."""


def absoluteConfig(config: dict[str, Any], base: str) -> dict[str, Any]:
    """``config`` with every URL it holds made absolute against ``base`` (the page's URL): the interpreter, the
    ``[files]`` and ``js_modules`` sources, the ``packages`` given as paths, each ``[[fetch]]``'s ``from``."""
    from urllib.parse import urljoin  # here: only a spawn with a config of its own needs it

    def isPath(value: Any) -> bool:
        return isinstance(value, str) and value.startswith((".", "/"))

    made = dict(config)
    if isPath(made.get("interpreter")):
        made["interpreter"] = urljoin(base, made["interpreter"])
    if isinstance(made.get("files"), dict):
        made["files"] = {urljoin(base, source): target for source, target in made["files"].items()}
    if isinstance(made.get("packages"), list):
        made["packages"] = [urljoin(base, entry) if isPath(entry) else entry for entry in made["packages"]]
    if isinstance(made.get("js_modules"), dict):
        made["js_modules"] = {
            side: {urljoin(base, source): alias for source, alias in modules.items()}
            if isinstance(modules, dict)
            else modules
            for side, modules in made["js_modules"].items()
        }
    if isinstance(made.get("fetch"), list):
        made["fetch"] = [
            {**entry, "from": urljoin(base, entry["from"])}
            if isinstance(entry, dict) and isPath(entry.get("from"))
            else entry
            for entry in made["fetch"]
        ]
    return made


def configFile(config: dict[str, Any]) -> str:
    """The URL of a config file holding ``config``: a Blob URL of its JSON, its URLs made absolute against the page.

    Why not the JSON itself: PyScript 0.7.31 starts a worker whose config is written inline with the main thread's
    config file instead, whenever the main thread has one (polyscript resolves the inline text against the main
    thread's config URL), so a file listed only in the dict never reached the worker; a config file's URL it
    honours. Relative URLs cannot resolve against a ``blob:`` URL, so every URL in it is made absolute first.
    """
    js = _js()
    text = json.dumps(absoluteConfig(config, str(js.document.baseURI)), sort_keys=True)
    url = _configFiles.get(text)
    if url is None:
        blob = js.Blob.new(
            _ffi().to_js([text]), _ffi().to_js({"type": "application/json"}, dict_converter=js.Object.fromEntries)
        )
        url = _configFiles[text] = str(js.URL.createObjectURL(blob)) + CONFIG_FILE_SUFFIX
    return url


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


def stopperOf(name: str) -> Callable[[], None]:
    """A function that stops the named worker as it is now and removes its script element.

    The element is looked up here, once: the function never touches a later worker given the same name.
    """
    element = _scriptElement(name)

    def stop() -> None:
        if element is not None:
            element.xworker.terminate()
            element.remove()

    return stop
