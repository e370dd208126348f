"""Main thread of tools/stackprobe.py's page; what it does comes from the page's query string.

``?thread=main&op=NAME&depth=N`` runs one operation on this thread and reports ``{"outcome": ...}``; if the operation
kills this interpreter, a JavaScript watchdog reports ``{"outcome": "crashed", ...}`` instead (Python cannot).
``?thread=worker&src=URL&interpreter=URL&stackops=URL`` reports ``{"ready": true}`` and leaves
``window.probeInWorker(op, depth)``: each call starts a fresh worker, runs the operation there, tells a crash apart
from an exception (a worker whose interpreter died answers nothing any more), terminates the worker and resolves to
the outcome.
"""

import asyncio
import json
import urllib.parse

import js
import pagekit
import pyodide_js
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
            failure = f"{type(error).__name__}: {str(error)[:200]}"
        try:
            answer = await asyncio.wait_for(worker.alive(), 10)
        except Exception as error:
            return f"crashed: {failure}; then {type(error).__name__}: {str(error)[:200]}"
        return f"failed in JavaScript: {failure}; worker still {answer}"
    finally:
        for element in js.document.querySelectorAll(f'script[worker][name="{name}"]'):
            element.xworker.terminate()
            element.remove()


_started = [0]


async def probeInWorker(op, depth):
    _started[0] += 1
    return await workerOutcome(f"probe-{_started[0]}", str(op), int(depth))


if query.get("thread") == "main":
    installWatchdog()
    pagekit.finish({"outcome": stackops.attempt(query["op"], int(query["depth"]))})
else:
    keep = create_proxy(probeInWorker)
    js.window.probeInWorker = keep
    pagekit.finish({"ready": True})
