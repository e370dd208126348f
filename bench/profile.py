"""The profile page's main thread (``tools/callprofile.py``): where one small call's time goes, on both threads.

Warms up, then runs ``add(1, 2)`` one call at a time under ``cProfile`` in this thread while the worker profiles
itself (``Bench.profileStart``/``profileStop``); then the same for 100 gathered calls and one ``client.map`` of 100.
"""

import asyncio
import cProfile
import pickle
import time

import js
import pagekit
import pyscript
from pyodide.ffi import to_js
from worker import Bench, _report

CALLS = int(js.URLSearchParams.new(js.location.search).get("calls") or 2000)

bench = await Bench.connect("bench")  # noqa: F704 - PyScript runs main scripts with top-level await
for _ in range(200):
    await bench.add(1, 2)  # noqa: F704


async def single():
    for _ in range(CALLS):
        await bench.add(1, 2)


async def gathered():
    for _ in range(CALLS // 100):
        await asyncio.gather(*(bench.add(n, 1) for n in range(100)))


async def mapped():
    for _ in range(CALLS // 100):
        await bench.map(Bench.add, range(100), [1] * 100)


results = {}
for name, run, calls in (("add", single, CALLS), ("gather", gathered, CALLS), ("map", mapped, CALLS // 100)):
    await bench.profileStart()  # noqa: F704
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    await run()  # noqa: F704
    profiler.disable()
    elapsed = time.perf_counter() - began
    worker = await bench.profileStop(calls)  # noqa: F704
    results[name] = {"msPerCall": elapsed * 1000 / CALLS, "main": _report(profiler, calls), "worker": worker}


def perCall(function, count=5000):
    """Microseconds per call of ``function()``, unprofiled."""
    began = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - began) * 1e6 / count


jsEmpty = js.Function.new("return 1")
FORTY = b"x" * 40
loop = asyncio.get_event_loop()
raw = await pyscript.workers["bench"]  # noqa: F704


async def libAdd():
    return await bench.add(1, 2)


async def rawAdd():
    return await raw.add(1, 2)


async def hop():
    future = loop.create_future()
    loop.call_soon(future.set_result, None)
    await future


def makeCall():
    bench.add(1, 2).close()


micro = {
    "attribute bench.add": perCall(lambda: bench.add),
    "bench.add(1, 2) made and closed": perCall(makeCall),
    "pickle.dumps((op, target, (1, 2), {}))": perCall(
        lambda: pickle.dumps(("call", ("Bench", "worker", "add"), (1, 2), {}), protocol=5)
    ),
    "empty Python function": perCall(lambda: None),
    "empty JavaScript function called from Python": perCall(jsEmpty),
    "to_js(memoryview(40 bytes))": perCall(lambda: to_js(memoryview(FORTY))),
    "asyncio.Future() made and settled": perCall(lambda: asyncio.Future(loop=loop).set_result(1)),
    "loop.create_future() made and settled": perCall(lambda: loop.create_future().set_result(1)),
}
for label, run in (("await bench.add(1, 2)", libAdd), ("await raw.add(1, 2) (PyScript)", rawAdd), ("loop hop", hop)):
    began = time.perf_counter()
    for _ in range(CALLS):
        await run()  # noqa: F704
    micro[label] = (time.perf_counter() - began) * 1e6 / CALLS
results["micro"] = micro
pagekit.finish(results)
