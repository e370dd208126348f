"""Loaded inside Pyodide by this directory's tests (see ``conftest.kit``): a main thread and a "worker" in one
interpreter, joined by the two ports of one ``MessageChannel`` with workerlib's real seam on each end.

:class:`Seam` puts a :class:`workerlib.server.Session` on one port (serving a fresh ``server.ServiceTable``) and a
:class:`workerlib.client.Link` on the other, and watches both ports from JavaScript: every message posted (its shape,
sizes, and whether what it transferred was detached), and every error a port's message handler threw. Bare Pyodide
is not a PyScript worker, so defining a ``WorkerService`` subclass serves nothing; :class:`Seam` adds the services to
its table itself and puts the previous ``server.table`` back when it closes.

Never imported on the host: pytest-pyodide runs only a test's own source in Pyodide, so each test body starts with
``exec(kit)``, which installs this file there as ``tests.pyodide.seamkit``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import js
from pyodide.code import run_js
from pyodide.ffi import JsProxy

from workerlib import WorkerService, client, ports, server, transfer

# Replaces port.postMessage with a function that posts and then records what was posted: "ArrayBuffer" (a batch on its
# own) or "Array" ([batch, attached, ...separate]), the byte lengths of the buffers, how many values were attached and
# transferred, and whether every transferred ArrayBuffer was detached by posting (moved, not copied).
_SPY_JS = """(port, posted) => {
    const post = port.postMessage.bind(port);
    port.postMessage = (message, transfer = []) => {
        const isArray = Array.isArray(message);
        const buffers = message instanceof ArrayBuffer ? [message] : isArray ? [message[0], ...message.slice(2)] : [];
        const entry = {
            shape: message instanceof ArrayBuffer ? "ArrayBuffer" : isArray ? "Array" : typeof message,
            sizes: buffers.map((buffer) => (buffer instanceof ArrayBuffer ? buffer.byteLength : null)),
            attached: isArray && Array.isArray(message[1]) ? message[1].length : 0,
            transferred: transfer.length,
        };
        post(message, transfer);
        entry.detached = transfer.every((item) => !(item instanceof ArrayBuffer) || item.byteLength === 0);
        posted.push(entry);
    };
}"""

# Wraps the message handler workerlib set on a port, recording what it throws instead of letting it escape: in Node an
# error thrown from a MessagePort handler kills the process.
_GUARD_JS = """(port, thrown) => {
    const handle = port.onmessage;
    port.onmessage = (event) => {
        try {
            handle(event);
        } catch (error) {
            thrown.push(String(error).trim().split("\\n").pop());
        }
    };
}"""


CALL_TIMEOUT = 15.0


class Probe(WorkerService):
    """The service the tests call: it records what arrives and answers with it, or with what it is asked to make."""

    def __init__(self) -> None:
        self.arrived: list[Any] = []
        self.made: list[Any] = []
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.seen: BaseException | None = None

    def echo(self, value: Any = None, **kwargs: Any) -> Any:
        """Return ``value`` as it arrived (keyword arguments are recorded too)."""
        self.arrived.append((value, kwargs) if kwargs else value)
        return value

    def makeJs(self, source: str) -> Any:
        """The value ``source`` (JavaScript returning a Python-convertible value or a proxy) evaluates to here."""
        made = run_js(source)
        self.made.append(made)
        return made

    def make(self, source: str) -> Any:
        """A Python value holding JavaScript values made here: ``source`` is a Python expression over ``js``."""
        made = eval(source, {"js": run_js, "transfer": transfer})
        self.made.append(made)
        return made

    async def waitForever(self) -> None:
        """Wait until cancelled; record the exception that ended the wait."""
        self.started.set()
        try:
            await asyncio.get_running_loop().create_future()
        except BaseException as error:
            self.seen = error
            self.cancelled.set()
            raise


class Seam:
    """A main end and a worker end of one ``MessageChannel``, in this interpreter: see the module's docstring.

    Use it as a context manager (``with Seam(Probe) as seam:``), which closes both ends and restores
    ``server.table``.
    """

    def __init__(self, *services: type) -> None:
        self.savedTable = server.table
        self.table = server.table = server.ServiceTable(WorkerService)
        for service in services:
            self.table.addClass(service, WorkerService)
        pair = js.MessageChannel.new()
        self.workerEnd = ports.PortChannel(pair.port2, "main thread")
        self.session = server.Session(self.workerEnd)
        self.mainEnd = ports.PortChannel(pair.port1, "seam")
        self.link = client.Link("seam", None, self.mainEnd)
        self.posted: dict[str, Any] = {"main": run_js("[]"), "worker": run_js("[]")}
        self.thrown: dict[str, Any] = {"main": run_js("[]"), "worker": run_js("[]")}
        for side, end in (("main", self.mainEnd), ("worker", self.workerEnd)):
            run_js(_SPY_JS)(end.port, self.posted[side])
            run_js(_GUARD_JS)(end.port, self.thrown[side])

    def client(self, service: type) -> Any:
        """A client of ``service`` on this seam's link. Its calls time out after :data:`CALL_TIMEOUT` seconds, so a
        call that is never answered fails its test rather than hanging the whole layer."""
        return client.clientClass(service, WorkerService)(client.Connection(self.link, timeout=CALL_TIMEOUT))

    def instance[T](self, service: type[T]) -> T:
        """The worker's instance of ``service``: the one the session calls."""
        found = self.table.instance(service)
        assert isinstance(found, service)
        return found

    def postedBy(self, side: str) -> list[dict[str, Any]]:
        """What ``side`` ("main" or "worker") posted on its port so far, as recorded by the spy."""
        return list(self.posted[side].to_py())

    def thrownBy(self, side: str) -> list[str]:
        """Errors ``side``'s message handler threw into JavaScript (it never should)."""
        return [str(text) for text in self.thrown[side]]

    def close(self) -> None:
        self.link.sever("was closed by the test")
        self.workerEnd.close()
        server.table = self.savedTable

    def __enter__(self) -> Seam:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def jsCheck(source: str, *args: Any) -> Any:
    """Call the JavaScript function ``source`` with ``args``; a JavaScript result comes back converted (``to_py``)."""
    result = run_js(source)(*args)
    return result.to_py() if isinstance(result, JsProxy) else result


def describeJs(value: Any) -> Any:
    """What a JavaScript value is and holds, read on the JavaScript side: a nested list/dict of plain data."""
    return jsCheck(DESCRIBE_JS, value)


DESCRIBE_JS = """(value) => {
    const describe = (v) => {
        const tag = Object.prototype.toString.call(v).slice(8, -1);
        if (v instanceof ArrayBuffer) return [tag, v.byteLength, Array.from(new Uint8Array(v))];
        if (v instanceof DataView) {
            return [tag, v.byteOffset, v.byteLength, v.buffer.byteLength,
                    Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))];
        }
        if (ArrayBuffer.isView(v)) return [tag, v.byteOffset, v.length, v.buffer.byteLength, Array.from(v, String)];
        if (typeof Blob !== "undefined" && v instanceof Blob) return [tag, v.size, v.type];
        if (Array.isArray(v)) return [tag, v.map(describe)];
        if (tag === "Object") return [tag, Object.fromEntries(Object.entries(v).map(([k, i]) => [k, describe(i)]))];
        if (v instanceof Error) return [tag, v.name, v.message];
        return [tag, String(v)];
    };
    return describe(value);
}"""
