"""The profile page's main thread (``tools/callprofile.py``): where one small call's time goes, on both threads.

Warms up, then runs ``add(1, 2)`` one call at a time under ``cProfile`` in this thread while the worker profiles
itself (``Bench.profileStart``/``profileStop``); then the same for 100 gathered calls and one ``client.map`` of 100.
"""

import asyncio
import cProfile
import time

import js
import pagekit
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
pagekit.finish(results)
