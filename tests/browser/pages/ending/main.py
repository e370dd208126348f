"""Main side of the ending page: end a declared and a spawned worker from Python, and print public objects."""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import asyncio
from typing import Any

import js
import pagekit
from pyodide.ffi import JsProxy, create_once_callable
from worker import Endless

from workerlib import ConnectError, WorkerClosedError, WorkerHandle, diagnostics, transfer

SRC = "/tests/browser/pages/ending/worker.py"
results: dict[str, object] = {}


def scriptCount(name: str) -> int:
    return int(js.document.querySelectorAll(f'script[worker][name="{name}"]').length)


async def threadEnded(lockName: str) -> bool:
    """Whether the worker's thread ended within 20 s: the browser frees the lock it held only then."""
    granted = js.navigator.locks.request(lockName, create_once_callable(lambda *_: True))
    try:
        return bool(await asyncio.wait_for(granted, 20))
    except TimeoutError:
        return False


async def endMidCall(client: Any) -> dict[str, object]:
    """Start a sync method that never returns, end the worker from Python, and report what happened."""
    lockName = await client.lifeLock()
    started = asyncio.Event()
    spinning = asyncio.ensure_future(client.spin(started.set))
    await asyncio.wait_for(started.wait(), 20)
    handle = client.worker
    before = {"repr": repr(handle), "str": str(handle), "running": handle.running, "client": repr(client)}
    handle.terminate()
    return {
        "before": before,
        "pending": await pagekit.outcome(spinning),
        "threadEnded": await threadEnded(lockName),
        "after": {"repr": repr(handle), "running": handle.running, "client": repr(client)},
        "later": await pagekit.outcome(client.ping("after")),
        "again": pagekit.raised(handle.terminate),
        "scripts": scriptCount(handle.name),
    }


declared = await Endless.connect("victim")
handle = declared.worker
results["handle"] = {
    "isHandle": isinstance(handle, WorkerHandle),
    "name": handle.name,
    "jsIsProxy": isinstance(handle.js, JsProxy),
    "scripts": scriptCount("victim"),
}
results["declared"] = await endMidCall(declared)
results["declaredReconnect"] = await pagekit.outcome(Endless.connect("victim", timeout=5))
results["closeAfter"] = await pagekit.outcome(declared.close())

spawned = await Endless.spawn(SRC, name="spawned-end")
results["spawned"] = await endMidCall(spawned)
results["spawnedClose"] = await pagekit.outcome(spawned.close())
# PyScript keeps a name's worker for the page's life (pyscript.workers[name]): a new worker takes a new name.
again = await Endless.spawn(SRC, name="spawned-end-2", timeout=20)
results["respawned"] = {
    "ping": await again.ping("new"),
    "repr": repr(again.worker),
    "scripts": scriptCount("spawned-end-2"),
}
await again.close()
results["respawned"]["afterClose"] = repr(again)

results["reprs"] = {
    "transfer": repr(transfer(js.Uint8Array.new(4))),
    "transferBuffer": repr(transfer(js.ArrayBuffer.new(4))),
    "diagnostics": str(diagnostics) == "\n".join(diagnostics),
    "errors": [repr(WorkerClosedError("x")), str(ConnectError("y"))],
}
pagekit.finish(results)
