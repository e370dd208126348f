"""Main thread of the pools page: sizing, backpressure, broadcasts, imap orders, cancelling, stats and closing on
real workers.

Calls that must end in an order the test chooses wait on ``ask``, a callback into this thread that returns when the
page opens that key's gate: no ordering here depends on timing. Each section records its failure instead of stopping
the page, so one broken behaviour fails its own tests only.
"""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import asyncio
import logging
import time

import pagekit
from worker_pools import Crunch

from workerlib import WorkerClosedError, workers

SRC = "/tests/browser/pages/pools/worker_pools.py"
results = {}
logged = []


class Collect(logging.Handler):
    def emit(self, record):
        logged.append(record.getMessage())


logging.getLogger("workerlib.pool").addHandler(Collect())
logging.getLogger("workerlib.pool").setLevel(logging.INFO)

gates = {}
asked = []


def gate(key):
    return gates.setdefault(key, asyncio.Event())


async def ask(key):
    """Called back by a worker's ``gated`` call: returns once the page opens gate ``key``."""
    asked.append(key)
    await gate(key).wait()


async def until(check, seconds=30.0):
    """Whether ``check()`` came true within ``seconds``, asked every 20 ms."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return False


async def section(name, body, deadline=90.0):
    await pagekit.section(results, name, body, deadline)


def statsOf(pool):
    stats = pool.stats()
    return {name: getattr(stats, name) for name in stats.__dataclass_fields__}


began = time.monotonic()
pool = await Crunch.pool(2, SRC, maxSize=3, idleTimeout=1.0, maxQueue=2)
results["boot"] = {"seconds": time.monotonic() - began, "size": pool.size, "stats": statsOf(pool)}
DATA = bytes(range(256)) * 4096  # 1 MiB


async def broadcastAndGrow():
    report = {"broadcast": await pool.broadcast(Crunch.load, DATA)}
    before = {client.workerName for client in pool.clients}
    gates.clear()
    asked.clear()
    # Three gated items on two workers: the third waits, so the pool starts a third worker, which runs the broadcast
    # before it takes the item; the gates open in the order 2, 0, 1 and the results come in that order.
    unordered = []

    async def take():
        async for item in pool.imapUnordered(Crunch.gated, [0, 1, 2], [ask] * 3):
            unordered.append(item)

    taking = asyncio.ensure_future(take())
    report["allStarted"] = await until(lambda: sorted(asked) == [0, 1, 2])
    report["grown"] = statsOf(pool)
    report["newWorkers"] = sorted({client.workerName for client in pool.clients} - before)
    for released, key in enumerate((2, 0, 1), start=1):
        gate(key).set()
        await until(lambda: len(unordered) == released)  # noqa: B023  (awaited before the loop moves on)
    await taking
    report["unordered"] = unordered
    report["knownEverywhere"] = [await client.known() for client in pool.clients]
    report["shrunk"] = await until(lambda: pool.size == 2, 20)
    report["afterShrink"] = statsOf(pool)
    return report


async def orderedImap():
    gates.clear()
    asked.clear()
    ordered = []

    async def take():
        async for item in pool.imap(Crunch.gated, [0, 1], [ask] * 2):
            ordered.append(item[0])

    taking = asyncio.ensure_future(take())
    await until(lambda: sorted(asked) == [0, 1])
    before = pool.stats().completed
    gate(1).set()
    await until(lambda: pool.stats().completed == before + 1)
    heldBack = list(ordered)  # item 1 is in, but item 0 is not: imap yields nothing yet
    gate(0).set()
    await taking
    chunked = await pool.map(Crunch.double, range(40), chunksize=8)
    return {"ordered": ordered, "heldBack": heldBack, "chunked": chunked == [2 * x for x in range(40)]}


async def backpressure():
    before = pool.stats().completed
    held = []
    read = 0

    def items():
        nonlocal read
        for index in range(150):
            read += 1
            held.append(read - (pool.stats().completed - before))  # read and not answered yet, this one included
            yield index

    doubled = await pool.map(Crunch.double, items())

    # The same from an async generator, a slow source: the loop turns between its items.
    asyncBefore = pool.stats().completed
    asyncHeld = []

    async def asyncItems():
        for index in range(60):
            await asyncio.sleep(0.001)
            asyncHeld.append(index + 1 - (pool.stats().completed - asyncBefore))
            yield index

    fromAsync = [value async for value in pool.imap(Crunch.double, asyncItems(), chunksize=2)]
    return {
        "ok": doubled == [2 * x for x in range(150)],
        "maxHeld": max(held),
        "read": read,
        "asyncOk": fromAsync == [2 * x for x in range(60)],
        "asyncMaxHeld": max(asyncHeld),
    }


async def replacement():
    gates.clear()
    asked.clear()
    victims = pool.clients[:2]
    for victim in victims:
        victim.worker.terminate()
    replaced = await until(lambda: len(pool.clients) == 2 and not set(pool.clients) & set(victims), 30)
    return {
        "replaced": replaced,
        "known": [await client.known() for client in pool.clients],
        "stats": statsOf(pool),
        "log": [line for line in logged if "terminated" in line or "replace" in line],
    }


async def counts():
    return {client.workerName: await client.counts() for client in pool.clients}


def grew(after, before, key):
    return sum(value[key] - before.get(name, {key: 0})[key] for name, value in after.items())


async def cancelledImap():
    before = await counts()
    first = None
    async for turns in pool.imap(Crunch.spin, [0.05] + [2.0] * 200):
        first = turns
        break
    settled = await until(lambda: pool.stats().busy == 0 and pool.stats().starting == 0, 30)
    after = await counts()
    again = await pool.double(21)
    later = await counts()
    return {
        "first": first is not None,
        "settled": settled,
        "started": grew(after, before, "started"),
        "interrupted": grew(after, before, "interrupted"),
        "startedLater": grew(later, after, "started"),
        "again": again,
    }


async def counting():
    before = pool.stats()
    outcomes = await asyncio.gather(*(pool.double(x) for x in [1, 2, 3, -1, 5, 6]), return_exceptions=True)
    after = pool.stats()
    timed = await pagekit.outcome(pool.map(Crunch.spin, [5.0, 5.0]).withTimeout(0.3))
    settled = await until(lambda: pool.stats().busy == 0, 30)
    return {
        "outcomes": [repr(outcome) for outcome in outcomes],
        "completed": after.completed - before.completed,
        "failed": after.failed - before.failed,
        "timed": timed,
        "settled": settled,
        "stats": statsOf(pool),
    }


async def ownConfig():
    # A config of its own: the main thread's, plus a file given relative to the page (build/pages/pools/index.html).
    config = workers.mainConfig()
    config["files"] = {**config["files"], "../../../tests/browser/pages/pools/extra_pools.txt": "./extra.txt"}
    async with await Crunch.pool(1, SRC, config=config) as own:
        return {"text": await own.readText("./extra.txt"), "known": await own.known()}


async def closing():
    # Awaited from the start (through outcome): Pyodide reports a task that fails with no one awaiting it yet.
    running = asyncio.ensure_future(pagekit.outcome(pool.spin(30.0)))
    await until(lambda: pool.stats().busy == 1)
    began = time.monotonic()
    await pool.close(timeout=0.5)
    closedIn = time.monotonic() - began
    outcome = await running
    later = await pagekit.outcome(pool.double(1))
    return {"closedIn": closedIn, "running": outcome, "later": later, "stats": statsOf(pool)}


await section("broadcastAndGrow", broadcastAndGrow)
await section("orderedImap", orderedImap)
await section("backpressure", backpressure)
await section("replacement", replacement)
await section("cancelledImap", cancelledImap)
await section("counting", counting)
await section("ownConfig", ownConfig)
await section("closing", closing)
results["log"] = logged
results["WorkerClosedError"] = WorkerClosedError.__name__
pagekit.finish(results)
