"""Main thread of tools/stackprobe.py's page; what it does comes from the page's query string.

``?thread=main&op=NAME&depth=N`` runs one operation on this thread and reports ``{"outcome": ...}``; if the operation
kills this interpreter, a JavaScript watchdog reports ``{"outcome": "crashed", ...}`` instead (Python cannot).
``?thread=worker&src=URL&interpreter=URL&stackops=URL`` reports ``{"ready": true}`` and leaves
``window.probeInWorker(op, depth)``: each call starts a fresh worker, runs the operation there (a function the worker
exports through PyScript's own bridge), tells a crash apart from an exception (a worker whose interpreter died answers
nothing any more), terminates the worker and resolves to the outcome.
The same page also leaves ``window.probeInService(op, depth, src)``, which does the same through workerlib: it spawns
the worker ``src`` with ``StackProbe.spawn`` (the main thread's config) and runs the operation in a service method,
deeper in the stack.
"""

import asyncio
import json
import urllib.parse

import js
import pagekit
import pyodide_js
import pyscript
import stackops
from pyodide.ffi import create_proxy
from pyscript import create_named_worker

query = {key: values[-1] for key, values in urllib.parse.parse_qs(str(js.location.search)[1:]).items()}
PROBE_TIMEOUT = 300.0  # seconds; the deepest values take a while to build in Wasm

_WATCHDOG_JS = r"""
(api) => {
  const check = (reason) => {
    if (window.pageResult !== undefined) return;
    try {
      void api.globals;  // throws once this thread's Pyodide fatally failed (a PyProxy call would not)
    } catch (error) {
      window.pageResult = JSON.stringify({ outcome: "crashed", reason: String(reason), check: String(error) });
    }
  };
  addEventListener("error", (event) => check(event.message));
  addEventListener("unhandledrejection", (event) => check(event.reason));
}
"""


def installWatchdog():
    """Report a crash of this thread's interpreter from JavaScript: an uncaught error, and Pyodide refuses service."""
    js.Function.new(f"return {_WATCHDOG_JS.strip()}")()(pyodide_js)


async def workerOutcome(name, op, depth):
    config = {"interpreter": query["interpreter"], "files": {query["stackops"]: "./stackops.py"}}
    worker = await create_named_worker(query["src"], name, config=json.dumps(config))
    try:
        try:
            return str(await asyncio.wait_for(worker.probe(op, depth), PROBE_TIMEOUT))
        except TimeoutError:
            return f"hung: no answer within {PROBE_TIMEOUT:g} s"
        except Exception as error:
            return await afterFailure(error, worker, "failed in JavaScript")
    finally:
        terminate(name)


def terminate(name):
    for element in js.document.querySelectorAll(f'script[worker][name="{name}"]'):
        element.xworker.terminate()
        element.remove()


async def serviceOutcome(name, op, depth, src):
    from probe_service import StackProbe  # only in this mode: it imports workerlib

    try:
        client = await StackProbe.spawn(src, name=name, timeout=PROBE_TIMEOUT)
    except Exception as error:
        terminate(name)
        return f"could not start: {type(error).__name__}: {str(error)[:200]}"
    try:
        return await watched(name, client.attempt(op, depth))
    finally:
        await client.close()
        terminate(name)


async def watched(name, awaitable):
    """The outcome of a workerlib call, told apart from a crash without waiting for a deadline: a call through
    PyScript's own bridge waits behind the probe (the worker is busy) and fails at once if the probe killed Pyodide,
    which workerlib (before issue 12) never notices."""
    exports = await asyncio.wait_for(pyscript.workers[name], 10)
    call = asyncio.ensure_future(awaitable)
    deadline = asyncio.get_running_loop().time() + PROBE_TIMEOUT
    while not call.done():
        watch = asyncio.ensure_future(exports.alive())
        await asyncio.wait(
            {call, watch}, timeout=deadline - asyncio.get_running_loop().time(), return_when="FIRST_COMPLETED"
        )
        if watch.done() and watch.exception() is not None:
            call.cancel()
            error = watch.exception()
            return f"crashed: PyScript's bridge: {type(error).__name__}: {str(error)[:200]}"
        if not call.done() and not watch.done():
            call.cancel()
            return f"hung: no answer within {PROBE_TIMEOUT:g} s"
    try:
        return str(call.result())
    except Exception as error:
        return await afterFailure(error, exports, "failed")


async def afterFailure(error, exports, failed):
    """A probe that raised: a crash if the worker no longer answers ``alive()`` either, else ``failed`` and why."""
    failure = f"{type(error).__name__}: {str(error)[:200]}"
    try:
        answer = await asyncio.wait_for(exports.alive(), 10)
    except Exception as later:
        return f"crashed: {failure}; then {type(later).__name__}: {str(later)[:200]}"
    return f"{failed}: {failure}; worker still {answer}"


_started = [0]


async def probeInWorker(op, depth):
    _started[0] += 1
    return await workerOutcome(f"probe-{_started[0]}", str(op), int(depth))


async def probeInService(op, depth, src):
    _started[0] += 1
    return await serviceOutcome(f"probe-{_started[0]}", str(op), int(depth), str(src))


if query.get("thread") == "main":
    installWatchdog()
    pagekit.finish({"outcome": stackops.attempt(query["op"], int(query["depth"]))})
else:
    keep = [create_proxy(probeInWorker), create_proxy(probeInService)]
    js.window.probeInWorker, js.window.probeInService = keep
    pagekit.finish({"ready": True})
