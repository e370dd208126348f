"""The benchmark page's main thread: raw PyScript against workerlib, same worker, same run, interleaved samples.

Every case is a pair of coroutines doing the same round trip, one through PyScript's own worker bridge (``__export__``
functions, ``.to_py()`` on the result) and one through a workerlib client. Each is checked once for a correct result,
warmed up, then timed in alternation (raw, workerlib, raw, workerlib...) and summarised by its median. The results
go to ``window.pageResult`` through ``pagekit.finish``; ``tools/bench.py`` waits for them and prints the table.

The page URL may carry ``?scale=0.3`` to take fewer samples (never fewer than three), for a quick look.
"""

import asyncio
import gc
import json
import statistics
import time

import js
import pagekit
import pyscript
from points import Point
from pyodide.ffi import JsProxy
from worker import Bench

import workerlib

WORKER = "bench"
SCALE = float(js.URLSearchParams.new(js.location.search).get("scale") or 1)


def progress(message):
    print(f"bench: {message}")  # tools/bench.py shows these console lines while the page runs


def samplesFor(count):
    return max(3, round(count * SCALE))


raw = await pyscript.workers[WORKER]  # noqa: F704 - PyScript runs main scripts with top-level await
alone = await pyscript.workers["raw"]  # noqa: F704 - raw PyScript in a worker of its own, without workerlib
bench = await Bench.connect(WORKER)  # noqa: F704


def fromJs(value):
    """What raw PyScript users do with a result: ``to_py()`` when it arrives as a JsProxy."""
    return value.to_py() if isinstance(value, JsProxy) else value


async def rawAdd():
    return fromJs(await raw.add(1, 2))


timings = []  # workerlib's own account of each timed call (Call.timing), for the breakdown


async def timedCall(call):
    result = await call
    timing = getattr(call, "timing", None)
    if timing is not None:
        timings.append(timing)
    return result


async def libAdd():
    return await timedCall(bench.add(1, 2))


def rawEcho(value):
    async def call():
        return fromJs(await raw.echo(value))

    return call


def libEcho(value):
    async def call():
        return await timedCall(bench.echo(value))

    return call


async def rawConcurrent():
    return [fromJs(result) for result in await asyncio.gather(*(raw.add(n, 1) for n in range(100)))]


async def libConcurrent():
    return await asyncio.gather(*(timedCall(bench.add(n, 1)) for n in range(100)))


async def libMap():
    return await bench.map(Bench.add, range(100), [1] * 100)


async def aloneAdd():
    return fromJs(await alone.add(1, 2))


def comparable(value, expected):
    """Raw results in the form workerlib gives them, for the correctness check only (not timed)."""
    if isinstance(expected, bytearray) and isinstance(value, (bytes, memoryview)):
        return bytearray(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(expected, Buffer) and isinstance(value, JsProxy):
        return Buffer(int(value.byteLength), bytes(js.Uint8Array.new(value, 0, 64).to_py()))
    return value


class Buffer(tuple):
    """What the ArrayBuffer case checks of a buffer: its length and first bytes."""

    def __new__(cls, length, head):
        return super().__new__(cls, (length, head))


def verify(label, side, got, expected):
    got = comparable(got, expected)
    if type(got) is not type(expected) or got != expected:
        raise AssertionError(
            f"{label}: the {side} result differs from what was sent "
            f"(got {type(got).__qualname__} of length {len(got) if hasattr(got, '__len__') else '-'})"
        )


async def timed(call, inner):
    """Seconds per call, over ``inner`` sequential calls."""
    started = time.perf_counter()
    for _ in range(inner):
        await call()
    return (time.perf_counter() - started) / inner


def ms(seconds):
    return round(seconds * 1000, 4)


async def compare(key, label, rawCall, libCall, expected, *, samples, inner=1, warmup=2, target):
    await verifyPair(label, rawCall, libCall, expected)
    # Untimed samples first, whole ones: the first hundreds of calls of a page run slower (code warming up in the
    # browser), which a few calls of warm-up do not cover.
    for _ in range(warmup):
        await timed(rawCall, inner)
        await timed(libCall, inner)
    gc.collect()
    rawTimes, libTimes = [], []
    timings.clear()
    for _ in range(samplesFor(samples)):
        rawTimes.append(await timed(rawCall, inner))
        libTimes.append(await timed(libCall, inner))
    rawMedian, libMedian = statistics.median(rawTimes), statistics.median(libTimes)
    ratio = libMedian / rawMedian
    row = {
        "key": key,
        "case": label,
        "rawMs": ms(rawMedian),
        "workerlibMs": ms(libMedian),
        "ratio": round(ratio, 3),
        "target": target,
        "passed": None if target is None else ratio <= target,
        "samples": len(rawTimes),
        "callsPerSample": inner,
        "rawSamplesMs": [ms(t) for t in rawTimes],
        "workerlibSamplesMs": [ms(t) for t in libTimes],
        "workerlibBreakdownMs": breakdown(),
    }
    progress(f"{label}: raw {row['rawMs']:.3f} ms, workerlib {row['workerlibMs']:.3f} ms, ratio {ratio:.2f}")
    return row


def breakdown():
    """Medians of workerlib's per-call timing: arguments (encode, cross, decode), method, return, and the total."""
    if not timings:
        return None
    parts = ("argumentTransfer", "execution", "returnTransfer", "total")
    return {part: ms(statistics.median(getattr(timing, part) for timing in timings)) for part in parts}


async def verifyPair(label, rawCall, libCall, expected):
    verify(label, "raw PyScript", await rawCall(), expected)
    verify(label, "workerlib", await libCall(), expected)


rows = []
# Targets: issue 21 ("One lean call path") for calls, issue 11 ("A channel of workerlib's own") for data; the ratio is
# workerlib / raw PyScript in the same page and run.
rows.append(await compare("add", "add(1, 2)", rawAdd, libAdd, 3, samples=30, inner=200, target=1.5))  # noqa: F704
# Raw PyScript in a worker of its own against raw PyScript beside workerlib: a side effect of workerlib on PyScript's
# own calls would show here (the "workerlib" column is raw PyScript in the worker workerlib also serves).
rows.append(
    await compare(  # noqa: F704
        "rawBeside",
        "raw add(1, 2) beside workerlib, against raw alone",
        aloneAdd,
        rawAdd,
        3,
        samples=30,
        inner=200,
        target=None,
    )
)

for size, samples in ((10_000, 60), (100_000, 25), (1_000_000, 11)):
    numbers = list(range(size))
    rows.append(
        await compare(  # noqa: F704
            f"list{size}",
            f"echo list(range({size:_}))",
            rawEcho(numbers),
            libEcho(numbers),
            numbers,
            samples=samples,
            warmup=1 if size >= 1_000_000 else 2,
            target=0.6,
        )
    )
    del numbers

records = [{"id": n, "name": f"name {n}", "score": n * 0.5, "tags": [f"t{n % 7}", f"u{n % 11}"]} for n in range(10_000)]
rows.append(
    await compare(  # noqa: F704
        "records", "echo 10,000 dict records", rawEcho(records), libEcho(records), records, samples=25, target=0.4
    )
)
del records

blob = bytes(range(256)) * (10 * 1024 * 1024 // 256)
rows.append(
    await compare("bytes", "echo 10 MB of bytes", rawEcho(blob), libEcho(blob), blob, samples=25, target=0.6)  # noqa: F704
)
del blob

big = bytearray(range(256)) * (50 * 1024 * 1024 // 256)
rows.append(
    await compare(  # noqa: F704
        "bytearray", "echo 50 MB bytearray", rawEcho(big), libEcho(big), big, samples=11, warmup=1, target=0.6
    )
)
del big

# A JavaScript ArrayBuffer: raw PyScript copies it both ways (structured clone); workerlib moves it with transfer()
# both ways, so the same buffer goes back and forth.
BUFFER_BYTES = 10 * 1024 * 1024
pattern = js.Uint8Array.new(BUFFER_BYTES)
for offset in range(0, 64):
    pattern[offset] = offset
rawBuffer = pattern.buffer.slice(0)
moving = {"buffer": pattern.buffer.slice(0)}
bufferExpected = Buffer(BUFFER_BYTES, bytes(range(64)))


async def rawEchoBuffer():
    return await raw.echoBuffer(rawBuffer)


async def libEchoBuffer():
    moving["buffer"] = await timedCall(bench.echoBuffer(workerlib.transfer(moving["buffer"])))
    return moving["buffer"]


rows.append(
    await compare(  # noqa: F704
        "arraybuffer",
        "echo a 10 MB JavaScript ArrayBuffer (workerlib: transfer())",
        rawEchoBuffer,
        libEchoBuffer,
        bufferExpected,
        samples=25,
        target=None,  # issue 11 asks for the case, with no target
    )
)
del pattern

rows.append(
    await compare(  # noqa: F704
        "concurrent",
        "100 concurrent add() (gather)",
        rawConcurrent,
        libConcurrent,
        [n + 1 for n in range(100)],
        samples=40,
        target=1.0,
    )
)
rows.append(
    await compare(  # noqa: F704
        "map",
        "client.map of 100 add() against raw's 100 concurrent add()",
        rawConcurrent,
        libMap,
        [n + 1 for n in range(100)],
        samples=40,
        target=0.15,
    )
)

# Adapted objects: workerlib only, raw PyScript cannot send a Point at all.
POINTS = 10_000
pointList = [Point(n, n * 0.5) for n in range(POINTS)]
echoPoints = libEcho(pointList)
verify("echo 10,000 Points", "workerlib", await echoPoints(), pointList)  # noqa: F704
for _ in range(2):
    await echoPoints()  # noqa: F704
gc.collect()
timings.clear()
pointTimes = [await timed(echoPoints, 1) for _ in range(samplesFor(25))]  # noqa: F704
pointMedian = statistics.median(pointTimes)
adapted = {
    "key": "points",
    "case": f"echo {POINTS:,} adapted Points",
    "objects": POINTS,
    "workerlibMs": ms(pointMedian),
    "perObjectUs": round(pointMedian / POINTS * 1e6, 3),
    "samples": len(pointTimes),
    "workerlibSamplesMs": [ms(t) for t in pointTimes],
    "workerlibBreakdownMs": breakdown(),
}
progress(f"{adapted['case']}: {adapted['workerlibMs']:.3f} ms, {adapted['perObjectUs']:.2f} us per object")

# Beyond one call (issue 13): workerlib only, raw PyScript has no pools, streams or callbacks. A CPU-bound map over a
# pool of one worker and a pool of two (this machine's cores), the cost of one stream item and of one callback.
WORK_SECONDS = 0.1
WORK_ITEMS = 8


async def mapTime(pool):
    started = time.perf_counter()
    turns = await pool.map(Bench.work, [WORK_SECONDS] * WORK_ITEMS)
    if len(turns) != WORK_ITEMS or min(turns) <= 0:
        raise AssertionError(f"map over a pool returned {turns!r}")
    return time.perf_counter() - started


mapSamples = samplesFor(5)
mapTimes = {}
for workers in (1, 2):
    async with await Bench.pool(workers, "/bench/worker.py") as pool:  # noqa: F704
        await pool.map(Bench.work, [0.01] * (2 * workers))  # noqa: F704 - warm up every worker
        mapTimes[workers] = [await mapTime(pool) for _ in range(mapSamples)]  # noqa: F704
single, pair = statistics.median(mapTimes[1]), statistics.median(mapTimes[2])

# Pools for real apps (issue 23): imapUnordered of 1,000 tiny items in chunks of 50 over a pool of 2, against one
# client.map of the same items on one worker; broadcasting 10 MB to a pool of 2, against sending it to one of the
# pool's own workers (the same kind of worker, spawned with the page's config, in the same state).
TINY_ITEMS = 1000
TINY_CHUNK = 50
BROADCAST_BYTES = 10 * 2**20
tinyExpected = list(range(1, TINY_ITEMS + 1))
broadcastData = bytes(range(256)) * (BROADCAST_BYTES // 256)


async def tinyOnOneWorker():
    if await bench.map(Bench.add, range(TINY_ITEMS), [1] * TINY_ITEMS) != tinyExpected:
        raise AssertionError("client.map of tiny items returned something else")


async def tinyUnordered():
    got = [item async for item in pool2.imapUnordered(Bench.add, range(TINY_ITEMS), [1] * TINY_ITEMS, chunksize=50)]
    if sorted(got) != tinyExpected:
        raise AssertionError("imapUnordered of tiny items returned something else")


async def sendToOne():
    if await pool2.clients[0].load(broadcastData) != BROADCAST_BYTES:
        raise AssertionError("sending 10 MB to one worker returned something else")


async def broadcastToTwo():
    if await pool2.broadcast(Bench.load, broadcastData) != [BROADCAST_BYTES] * 2:
        raise AssertionError("broadcasting 10 MB to two workers returned something else")


pool2 = await Bench.pool(2, "/bench/worker.py")  # noqa: F704
poolTimes = {"map": [], "imapUnordered": [], "one": [], "broadcast": []}
for _ in range(2):  # warm-up: whole untimed samples
    for job in (tinyOnOneWorker, tinyUnordered, sendToOne, broadcastToTwo):
        await job()  # noqa: F704
for _ in range(samplesFor(7)):
    poolTimes["map"].append(await timed(tinyOnOneWorker, 1))  # noqa: F704
    poolTimes["imapUnordered"].append(await timed(tinyUnordered, 1))  # noqa: F704
    poolTimes["one"].append(await timed(sendToOne, 1))  # noqa: F704
    poolTimes["broadcast"].append(await timed(broadcastToTwo, 1))  # noqa: F704
await pool2.close()  # noqa: F704
poolMedians = {key: statistics.median(times) for key, times in poolTimes.items()}
pools = {
    "tinyCase": f"{TINY_ITEMS:,} add() items",
    "mapOneWorkerMs": ms(poolMedians["map"]),
    "imapUnorderedMs": ms(poolMedians["imapUnordered"]),
    "imapRatio": round(poolMedians["imapUnordered"] / poolMedians["map"], 3),
    "imapTarget": 3.0,
    "chunksize": TINY_CHUNK,
    "broadcastCase": f"{BROADCAST_BYTES // 2**20} MB of bytes",
    "sendToOneMs": ms(poolMedians["one"]),
    "broadcastToTwoMs": ms(poolMedians["broadcast"]),
    "broadcastRatio": round(poolMedians["broadcast"] / poolMedians["one"], 3),
    "broadcastTarget": 2.0,
    "samplesMs": {key: [ms(t) for t in times] for key, times in poolTimes.items()},
}
progress(
    f"pools: {pools['tinyCase']}: client.map on one worker {pools['mapOneWorkerMs']:.1f} ms, imapUnordered "
    f"(chunksize {TINY_CHUNK}) on a pool of 2 {pools['imapUnorderedMs']:.1f} ms ({pools['imapRatio']:.2f}); "
    f"{pools['broadcastCase']}: to one worker {pools['sendToOneMs']:.1f} ms, broadcast to 2 "
    f"{pools['broadcastToTwoMs']:.1f} ms ({pools['broadcastRatio']:.2f})"
)

# Starting workers (issues 22 and 23): from the call that starts them until each has answered one call, and the
# WebAssembly memory each one's interpreter holds. Raw PyScript starts named workers running raw_worker.py with the
# page's own config (the files every workerlib worker gets too); workerlib spawns workers and makes a pool.
bootCount = 0


def newName(prefix):
    global bootCount
    bootCount += 1
    return f"{prefix}-{bootCount}"


async def rawBoot(n):
    names = [newName("raw-boot") for _ in range(n)]
    config = json.dumps(workerlib.workers.mainConfig())
    started = time.perf_counter()
    started_workers = await asyncio.gather(
        *(pyscript.create_named_worker("/bench/raw_worker.py", name, config=config) for name in names)
    )
    await asyncio.gather(*(worker.add(1, 2) for worker in started_workers))
    elapsed = time.perf_counter() - started
    memory = [int(await worker.wasmMemory()) for worker in started_workers]
    for name in names:
        workerlib.workers.terminate(name)
    return elapsed, memory


async def libBoot(n):
    started = time.perf_counter()
    if n == 1:
        client = await Bench.spawn("/bench/worker.py", name=newName("lib-boot"))
        await client.add(1, 2)
        clients, closing = [client], client
    else:
        pool = await Bench.pool(n, "/bench/worker.py")
        await pool.map(Bench.add, range(n), [1] * n)
        clients, closing = pool.clients, pool
    elapsed = time.perf_counter() - started
    memory = [await client.wasmMemory() for client in clients]
    await closing.close()
    return elapsed, memory


bootSamples = samplesFor(3)
boots = {}
for label, boot, n in (("raw1", rawBoot, 1), ("lib1", libBoot, 1), ("raw2", rawBoot, 2), ("lib2", libBoot, 2)):
    boots[label] = [await boot(n) for _ in range(bootSamples)]  # noqa: F704
bootMs = {label: ms(statistics.median(elapsed for elapsed, _ in samples)) for label, samples in boots.items()}
memoryMiB = {
    label: round(statistics.median(sum(memory) / len(memory) for _, memory in samples) / 2**20, 1)
    for label, samples in boots.items()
}
progress(
    f"boot: one worker raw {bootMs['raw1']:.0f} ms, workerlib spawn {bootMs['lib1']:.0f} ms; two workers raw "
    f"{bootMs['raw2']:.0f} ms, workerlib pool {bootMs['lib2']:.0f} ms; WebAssembly memory per worker raw "
    f"{memoryMiB['raw1']} MiB, workerlib {memoryMiB['lib1']} MiB"
)

STREAM_ITEMS = 2000


async def streamAll():
    items = [item async for item in bench.count(STREAM_ITEMS)]
    if items != list(range(STREAM_ITEMS)):
        raise AssertionError("the stream's items differ from what the worker yielded")


CALLBACKS = 200


async def callBackAll():
    if await bench.callBack(CALLBACKS, lambda value: value) != sum(range(CALLBACKS)):
        raise AssertionError("the callbacks' results differ")


for warm in (streamAll, callBackAll):
    await warm()  # noqa: F704
streamTimes = [await timed(streamAll, 1) for _ in range(samplesFor(15))]  # noqa: F704
callbackTimes = [await timed(callBackAll, 1) for _ in range(samplesFor(15))]  # noqa: F704
addTime = statistics.median([await timed(libAdd, 200) for _ in range(samplesFor(10))])  # noqa: F704
beyond = {
    "bootMs": bootMs,
    "bootSamplesMs": {label: [ms(elapsed) for elapsed, _ in samples] for label, samples in boots.items()},
    "workerMemoryMiB": memoryMiB,
    "mapCase": f"map of {WORK_ITEMS} CPU-bound calls of {WORK_SECONDS * 1000:g} ms",
    "mapOneWorkerMs": ms(single),
    "mapTwoWorkersMs": ms(pair),
    "speedup": round(single / pair, 3),
    "speedupTarget": 1.9,
    "mapSamplesMs": {str(workers): [ms(t) for t in times] for workers, times in mapTimes.items()},
    "streamItemUs": round(statistics.median(streamTimes) / STREAM_ITEMS * 1e6, 2),
    "streamItems": STREAM_ITEMS,
    "callbackRoundTripUs": round(statistics.median(callbackTimes) / CALLBACKS * 1e6, 2),
    "callbacks": CALLBACKS,
    "addRoundTripUs": round(addTime * 1e6, 2),
    "perAddTarget": 1.0,  # issue 21: a stream item and an awaited callback round trip each cost at most an add()
}
progress(
    f"{beyond['mapCase']}: 1 worker {beyond['mapOneWorkerMs']:.1f} ms, pool of 2 {beyond['mapTwoWorkersMs']:.1f} ms, "
    f"speed-up {beyond['speedup']:.2f}; stream item {beyond['streamItemUs']:.1f} us, callback round trip "
    f"{beyond['callbackRoundTripUs']:.1f} us (add() round trip {beyond['addRoundTripUs']:.1f} us)"
)

# Floors: what Pyodide's event loop costs any library whose calls are coroutines, measured in this same page. No
# library can make 100 gathered calls cheaper than gathering 100 coroutines that wait on futures settled all at once,
# nor a call cheaper than one trip through the event loop.
loop = asyncio.get_event_loop()


async def gatherFloor():
    futures = [loop.create_future() for _ in range(100)]

    async def wait(future):
        return await future

    def settle():
        for index, future in enumerate(futures):
            future.set_result(index)

    loop.call_soon(settle)
    return await asyncio.gather(*(wait(future) for future in futures))


async def loopHop():
    future = loop.create_future()
    loop.call_soon(future.set_result, None)
    await future


floorSamples = samplesFor(40)
floors = {
    "gather100Ms": ms(statistics.median([await timed(gatherFloor, 1) for _ in range(floorSamples)])),  # noqa: F704
    "loopHopMs": ms(statistics.median([await timed(loopHop, 50) for _ in range(floorSamples)])),  # noqa: F704
}
progress(
    f"floors: gather of 100 settled futures {floors['gather100Ms']:.3f} ms, one loop hop {floors['loopHopMs']:.3f} ms"
)

pagekit.finish(
    {
        "rows": rows,
        "adapted": adapted,
        "floors": floors,
        "beyond": beyond,
        "pools": pools,
        "scale": SCALE,
        "versions": {**workerlib.systemVersions, "workerlib": workerlib.__version__},
        "crossOriginIsolated": bool(js.window.crossOriginIsolated),
    }
)
