"""Main thread of the beyond page: streams, callbacks, cancellation and pools against real workers."""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import asyncio
import functools
import time

import js
import pagekit
from worker_beyond import Jobs

from workerlib import diagnostics, protocol

SRC = "/tests/browser/pages/beyond/worker_beyond.py"

results = {}
jobs = await Jobs.connect("jobs")


async def until(check, seconds=10.0):
    """Whether ``await check()`` came true within ``seconds``, asking again every 20 ms."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def inHistory(entry):
    return entry in await jobs.history()


def seconds(since):
    return round(time.monotonic() - since, 3)


# ---- streams ------------------------------------------------------------------------------------------------------

began = time.monotonic()
results["ticks"] = [(item, seconds(began)) async for item in jobs.ticks(5, 0.25)]
began = time.monotonic()
results["crunchItems"] = [(item, seconds(began)) async for item in jobs.crunchItems(4, 0.3)]
results["ticksClosedAtEnd"] = await inHistory("ticks closed")

await jobs.clearHistory()
stream = jobs.produce(10**6)
async for item in stream:
    if item == 3:
        break
leftAt = time.monotonic()
closed = await until(lambda: inHistory("produce closed"))
results["breakCloses"] = {"closed": closed, "seconds": seconds(leftAt), "again": [i async for i in stream]}


async def grown():
    return await jobs.producedCount() > protocol.STREAM_AHEAD


loop = aiter(jobs.produce(10**6))
first = await anext(loop)
# Twenty round trips: the worker has every chance to run further ahead, were it allowed to.
ahead = [await jobs.producedCount() for _ in range(20)]
taken = [first] + [await anext(loop) for _ in range(8)]
await until(lambda: grown())
later = [await jobs.producedCount() for _ in range(20)]
del loop
results["backpressure"] = {"ahead": ahead, "taken": taken, "later": later, "window": protocol.STREAM_AHEAD}

got = []
try:
    async for item in jobs.failing():
        got.append(item)
    results["failing"] = {"items": got, "error": None}
except ValueError as error:
    results["failing"] = {"items": got, "error": pagekit.describeError(error)}


async def collect(n):
    return [item["tick"] async for item in jobs.ticks(n, 0.02)]


results["concurrent"] = await asyncio.gather(collect(3), collect(5), collect(4))

await jobs.clearHistory()
got = []
began = time.monotonic()
try:
    async for item in jobs.silentAfterOne().withTimeout(0.5):
        got.append(item)
    results["streamTimeout"] = {"error": None}
except TimeoutError as error:
    results["streamTimeout"] = {"items": got, "error": pagekit.describeError(error), "seconds": seconds(began)}
results["streamTimeout"]["closed"] = await until(lambda: inHistory("silentAfterOne closed"))

# ---- callbacks ----------------------------------------------------------------------------------------------------

progress = []
crunched = await jobs.crunch(40, progress.append)
results["progress"] = {"result": crunched, "reports": list(progress)}


class Answers:
    def __init__(self, prefix):
        self.prefix = prefix

    def answer(self, question):
        return f"{self.prefix}{question}"


async def shout(question):
    await asyncio.sleep(0.01)
    return question.upper()


results["awaited"] = {
    "lambda": await jobs.ask("q", lambda q: q * 2),
    "async": await jobs.ask("why", shout),
    "bound": await jobs.ask("x", Answers("bound ").answer),
    "nested": await jobs.askAll({"first": abs, "then": [functools.partial(pow, 2)]}),
    "raised": await jobs.askFailing(lambda: {}["missing"]),
}
await jobs.keep(print)
results["late"] = await jobs.callKept()

# ---- cancellation -------------------------------------------------------------------------------------------------

await jobs.clearHistory()
task = asyncio.ensure_future(jobs.waitForever())
await until(lambda: inHistory("waitForever started"))
task.cancel()
results["asyncCancel"] = {"cancelled": False}
try:
    await task
except asyncio.CancelledError:
    results["asyncCancel"]["cancelled"] = True
results["asyncCancel"]["workerSaw"] = await until(lambda: inHistory("waitForever cancelled"))

results["syncCancellation"] = next(line for line in diagnostics if line.startswith("sync cancellation:"))
began = time.monotonic()
timedOut = await pagekit.outcome(jobs.spinFor(30).withTimeout(0.5))
results["syncTimeout"] = {"outcome": timedOut, "seconds": seconds(began)}
began = time.monotonic()
results["syncTimeout"]["ping"] = await jobs.ping()
results["syncTimeout"]["pingSeconds"] = seconds(began)
results["syncTimeout"]["interrupted"] = await inHistory("spinFor interrupted")

await jobs.clearHistory()
started = asyncio.Event()
task = asyncio.ensure_future(jobs.spinFor(30, started.set))
await started.wait()
began = time.monotonic()
task.cancel()
try:
    await task
    results["syncCancel"] = {"cancelled": False}
except asyncio.CancelledError:
    results["syncCancel"] = {"cancelled": True, "seconds": seconds(began)}
began = time.monotonic()
results["syncCancel"]["ping"] = await jobs.ping()
results["syncCancel"]["pingSeconds"] = seconds(began)
results["syncCancel"]["interrupted"] = await inHistory("spinFor interrupted")

await jobs.clearHistory()
first = asyncio.Event()


async def consume():
    async for _ in jobs.ticks(10**6, 0.01):
        first.set()


task = asyncio.ensure_future(consume())
await first.wait()
task.cancel()
await asyncio.gather(task, return_exceptions=True)
results["consumerCancel"] = await until(lambda: inHistory("ticks closed"))

# ---- pools --------------------------------------------------------------------------------------------------------


def workerScripts(names):
    return [name for name in names if js.document.querySelectorAll(f'script[worker][name="{name}"]').length]


pool = await Jobs.pool(2, SRC)
async with pool:
    report = {"size": pool.size, "workers": [client.workerName for client in pool.clients]}
    report["map"] = await pool.map(Jobs.square, range(20))
    report["owners"] = len(set(await pool.map(pool.work, [0.05] * 8)))
    report["stream"] = [item async for item in pool.produce(5)]
    poolProgress = []
    report["callback"] = {"result": await pool.crunch(5, poolProgress.append), "reports": poolProgress}

    victim = pool.clients[0]
    holding = asyncio.Event()
    pending = asyncio.ensure_future(victim.hold(holding.set))
    await holding.wait()
    js.document.querySelector(f'script[worker][name="{victim.workerName}"]').xworker.terminate()
    report["pendingOnKilled"] = await pagekit.outcome(pending)

    async def replaced():
        names = [client.workerName for client in pool.clients]
        return len(names) == 2 and victim.workerName not in names

    report["replaced"] = await until(replaced, 30)
    report["workersAfter"] = [client.workerName for client in pool.clients]
    report["mapAfter"] = await pool.map(Jobs.square, range(6))
report["afterClose"] = await pagekit.outcome(pool.square(2))
report["scriptsLeft"] = workerScripts(report["workers"] + report["workersAfter"])
results["pool"] = report

pagekit.finish(results)
