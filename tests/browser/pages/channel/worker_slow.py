"""Worker 'slow': still loading when the main thread connects to it.

Its module first waits until the main thread says it is about to connect (``window.slowGate``, read through PyScript's
synchronous ``window``), then keeps its thread busy for two more seconds, and only then defines its services. So
``connect()`` is certainly called on a worker that has not finished loading, and has to wait for it.
"""

import time

import channelkit
import js
from pyodide.ffi import to_js
from pyscript import window

channelkit.installCounters()
loading = {"started": js.Date.now()}

deadline = time.monotonic() + 120  # a main thread that never connects fails its page; do not hang the worker for ever
while not getattr(window, "slowGate", None) and time.monotonic() < deadline:
    time.sleep(0.02)
loading["gateSeen"] = js.Date.now()

busyUntil = time.perf_counter() + 2.0
spins = 0
while time.perf_counter() < busyUntil:  # a slow import: the thread is busy, its event loop does not run
    spins += 1

from slow_services import SlowFirst, SlowSecond  # noqa: E402 - defining the services only now is the point

loading["ready"] = js.Date.now()
js.globalThis.slowLoading = to_js(loading, dict_converter=js.Object.fromEntries)
__all__ = ["SlowFirst", "SlowSecond"]
