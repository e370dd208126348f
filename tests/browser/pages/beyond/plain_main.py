"""Main thread of the beyond page served without cross-origin isolation: no SharedArrayBuffer anywhere.

Streams and callbacks need none; a cancelled sync method cannot be interrupted, so it runs to its end.
"""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import time

import js
import pagekit
from worker_beyond import Jobs

from workerlib import diagnostics

results = {"isolated": bool(js.crossOriginIsolated), "sharedArrayBuffer": hasattr(js, "SharedArrayBuffer")}
jobs = await Jobs.connect("jobs")

results["stream"] = [item async for item in jobs.produce(40)]
progress = []
results["progress"] = {"result": await jobs.crunch(10, progress.append), "reports": progress}
results["awaited"] = await jobs.ask("q", lambda q: q * 3)

results["syncCancellation"] = next(line for line in diagnostics if line.startswith("sync cancellation:"))
await jobs.clearHistory()
began = time.monotonic()
results["timedOut"] = await pagekit.outcome(jobs.spinFor(1.5).withTimeout(0.3))
results["timedOutAfter"] = round(time.monotonic() - began, 3)
results["ping"] = await jobs.ping()
results["pingAfter"] = round(time.monotonic() - began, 3)  # the spin had to end first
results["history"] = await jobs.history()

pagekit.finish(results)
