"""Main thread of the cancelling page: cancelled sync methods run their handlers, queued cancelled calls never start,
a cancelled pool.map starts no further items (issue 21, item 7)."""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import asyncio
import contextlib
import time

import pagekit
from worker_cancelling import Stopper

SRC = "/tests/browser/pages/cancelling/worker_cancelling.py"

results = {}
stopper = await Stopper.connect("stopper")


def seconds(since):
    return round(time.monotonic() - since, 3)


async def cancelRunning(method):
    """Start ``method(started)``, cancel it once it runs, and return what its handlers recorded in the worker."""
    started = asyncio.Event()
    task = asyncio.ensure_future(method(started.set))
    await started.wait()
    task.cancel()
    try:
        await task
        cancelled = False
    except asyncio.CancelledError:
        cancelled = True
    # The worker answers this after the interrupted method ended: its handlers ran by then, or never will.
    return {"cancelled": cancelled, "record": await stopper.takeRecord()}


await stopper.claimTool()
for loop in ("branchy", "condition", "straight"):
    results[loop] = [await cancelRunning(getattr(stopper, loop)) for _ in range(3)]
results["tools"] = await stopper.tools()
await stopper.releaseTool()
results["toolsAfter"] = await stopper.tools()

results["queued"] = []
for _ in range(2):
    await stopper.takeStarts()
    started = asyncio.Event()
    gathered = asyncio.gather(stopper.burn("a", 30, started.set), stopper.burn("b", 30), stopper.burn("c", 30))
    await started.wait()
    began = time.monotonic()
    gathered.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gathered
    results["queued"].append({"starts": await stopper.takeStarts(), "seconds": seconds(began)})

pool = await Stopper.pool(2, SRC)
async with pool:
    seen = []
    two = asyncio.Event()

    def itemStarted(index):
        seen.append(index)
        if len(seen) >= 2:
            two.set()

    task = asyncio.ensure_future(pool.map(Stopper.burnItem, [(index, itemStarted) for index in range(6)]))
    await two.wait()
    atCancel = sorted(seen)
    began = time.monotonic()
    task.cancel()
    try:
        await task
        cancelled = False
    except asyncio.CancelledError:
        cancelled = True
    perWorker = [await client.takeStarts() for client in pool.clients]
    results["poolMap"] = {
        "cancelled": cancelled,
        "startedAtCancel": atCancel,
        "startsPerWorker": perWorker,
        "seconds": seconds(began),
        "callbacksAfter": sorted(seen),
    }

pagekit.finish(results)
