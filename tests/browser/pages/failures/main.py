"""Main thread of the failures page: every way a call can fail surfaces here as an ordinary Python exception."""

import asyncio
import json
import random
import time

import js
import pagekit
import pyodide_js
from shared_failures import AppError, Fragile, probeHeap
from worker_faulty import Faulty
from worker_slow import Slow

from workerlib import RemoteError, codec, protocol

pyodide_js._module.enable_pyproxy_allocation_tracing()
results = {}


def described(error):
    found = pagekit.describeError(error)
    found["args"] = repr(error.args)
    found["cause"] = pagekit.describeError(error.__cause__) if error.__cause__ is not None else None
    found["context"] = pagekit.describeError(error.__context__) if error.__context__ is not None else None
    return found


async def failure(awaitable):
    """The exception an awaitable raises, described, with how long it took to raise."""
    started = time.monotonic()
    try:
        value = await awaitable
    except BaseException as error:  # CancelledError included
        found = described(error)
        found["seconds"] = time.monotonic() - started
        return found
    return {"unexpectedValue": repr(value)}


faulty = await Faulty.connect("faulty")  # noqa: F704 - PyScript runs main scripts with top-level await

# ---- remote exceptions --------------------------------------------------------------------------------------------
results["builtin"] = await failure(faulty.raiseBuiltin("bad input"))  # noqa: F704
results["shared"] = await failure(faulty.raiseShared(7))  # noqa: F704
results["sharedIsAppError"] = False
try:
    await faulty.raiseShared(8)  # noqa: F704
except AppError as error:
    results["sharedIsAppError"] = error.args == ("application failed with code 8", 8)
results["local"] = await failure(faulty.raiseLocal())  # noqa: F704
try:
    await faulty.raiseLocal()  # noqa: F704
except RemoteError as error:
    results["localFields"] = {
        "remoteType": error.remoteType,
        "message": error.message,
        "traceback": error.remoteTraceback,
    }
results["chained"] = await failure(faulty.raiseChained())  # noqa: F704
results["implicit"] = await failure(faulty.raiseImplicit())  # noqa: F704
results["exit"] = await failure(faulty.exit())  # noqa: F704
results["afterExceptions"] = await faulty.ping()  # noqa: F704

# ---- adapters failing on either side ------------------------------------------------------------------------------
results["encodeInWorker"] = await failure(faulty.fragile("x", True))  # noqa: F704
results["decodeOnMain"] = await failure(faulty.fragile("poison", False))  # noqa: F704
results["encodeOnMain"] = await failure(faulty.takeFragile(Fragile("y", broken=True)))  # noqa: F704
results["decodeInWorker"] = await failure(faulty.takeFragile(Fragile("poison")))  # noqa: F704
results["fragileFine"] = await faulty.takeFragile(Fragile("fine"))  # noqa: F704
results["afterAdapters"] = await faulty.ping()  # noqa: F704

# ---- timeouts -----------------------------------------------------------------------------------------------------
hasty = await Faulty.connect("faulty", timeout=0.3)  # noqa: F704
results["clientTimeout"] = hasty.timeout
results["defaultTimeout"] = await failure(hasty.sleep(2.0))  # noqa: F704
results["overrideLonger"] = await hasty.sleep(0.6).withTimeout(5)  # noqa: F704
results["overrideShorter"] = await failure(faulty.sleep(2.0).withTimeout(0.2))  # noqa: F704
results["blockedTimeout"] = await failure(hasty.block(1.0))  # noqa: F704
# The worker answers the timed-out calls later; those answers must be dropped quietly. Wait until they are surely in
# (the sleeps above end within 2 s of their start), then check the worker and the page are fine.
started = time.monotonic()
results["afterLateAnswers"] = await faulty.sleep(2.2)  # noqa: F704
results["pendingAfterTimeouts"] = len(hasty._connection.link.pending)
results["badTimeout"] = pagekit.raised(lambda: faulty.ping().withTimeout(0))

# ---- cancellation -------------------------------------------------------------------------------------------------
task = asyncio.create_task(faulty.sleep(1.5))
await asyncio.sleep(0.1)  # noqa: F704 - let the call reach the worker before cancelling it
task.cancel()
results["cancelled"] = await failure(task)  # noqa: F704
results["afterCancel"] = await faulty.ping()  # noqa: F704
results["pendingAfterCancel"] = len(faulty._connection.link.pending)

# ---- a worker still loading is waited for, within the timeout ------------------------------------------------------


def addWorker(name):
    """Add a worker tag the way a page script would; PyScript starts it, and it takes seconds to get ready."""
    script = js.document.createElement("script")
    script.type = "py"
    script.src = "/tests/browser/pages/failures/worker_slow.py"
    script.setAttribute("worker", "")
    script.setAttribute("name", name)
    script.setAttribute("config", "./faulty.toml")
    js.document.body.append(script)


addWorker("slow-1")
results["loadingTimeout"] = await failure(Slow.connect("slow-1", timeout=0.5))  # noqa: F704
addWorker("slow-2")
started = time.monotonic()
slow = await Slow.connect("slow-2", timeout=60)  # noqa: F704
results["loading"] = {"answer": await slow.ready(), "seconds": time.monotonic() - started}  # noqa: F704

# ---- malformed payloads straight into the dispatcher --------------------------------------------------------------
rng = random.Random(20261121)
valid = await protocol.encodeRequest(  # noqa: F704
    protocol.Request(protocol.OP_CALL, protocol.ServiceTarget("Faulty", "worker_faulty", "ping"), (), {})
)


def randomValue(depth=0):
    choices = [None, True, rng.randrange(-(2**70), 2**70), rng.random(), "text", b"\x00\xff", (), [], {}]
    if depth < 3:
        choices += [tuple(randomValue(depth + 1) for _ in range(rng.randrange(5))), [randomValue(depth + 1)]]
        choices += [{"k": randomValue(depth + 1)}]
    return rng.choice(choices)


def fuzzCases():
    for _ in range(800):
        yield "random bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    for _ in range(600):
        yield "truncated", valid[: rng.randrange(len(valid))]
    for _ in range(600):
        flipped = bytearray(valid)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        yield "bit flipped", bytes(flipped)
    for _ in range(600):
        yield "wrong shape", codec.encode(randomValue())
    for _ in range(300):
        operation = rng.choice([protocol.OP_CALL, protocol.OP_FUNCTION, "nonsense", None])
        target = rng.choice(
            [
                protocol.ServiceTarget("Faulty", "worker_faulty", rng.choice(["nope", "_secret", "__init__", "probe"])),
                protocol.ServiceTarget("Nobody", "anywhere", "ping"),
                "unknownFunction",
                None,
            ]
        )
        yield "wrong names", codec.encode((operation, target, (), {}))
    for _ in range(200):
        header = codec.MAGIC + bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        yield "bad frame", header


# Fuzzed on worker 'closing', which ends later anyway: a few crafted bytes can make the unpickler's memo table grow
# the heap by gigabytes (see the user guide), which would blur the leak measurement on 'faulty' below.
fuzzed = await Faulty.connect("closing")  # noqa: F704
fuzz = {"cases": 0, "failures": 0, "kinds": {}, "unexpected": []}
fuzzedLink = fuzzed._connection.link
for kind, payload in fuzzCases():
    fuzz["cases"] += 1
    reply = await fuzzedLink.request(protocol.FrameKind.REQUEST, payload, "a fuzzed request")  # noqa: F704
    ok, value, _ = await protocol.decodeReply(reply.payload)  # noqa: F704
    if ok:
        # A bit flip can leave a valid request (a flipped bit in a name's case, say): then it must have run for real.
        fuzz["kinds"].setdefault("answered", 0)
        fuzz["kinds"]["answered"] += 1
        continue
    fuzz["failures"] += 1
    fuzz["kinds"].setdefault(kind, {})
    fuzz["kinds"][kind][value.typeName] = fuzz["kinds"][kind].get(value.typeName, 0) + 1
    if not value.message or (len(fuzz["unexpected"]) < 5 and "workerlib" not in value.typeName):
        fuzz["unexpected"].append([kind, value.typeName, value.message])
results["fuzz"] = fuzz
results["afterFuzz"] = await fuzzed.ping()  # noqa: F704
results["fuzzedHeapBytes"] = (await fuzzed.probe())["heapBytes"]  # noqa: F704

# ---- no leaks: heap, JavaScript references and PyProxies stay flat ------------------------------------------------


async def workload(sequential, concurrent):
    for _ in range(sequential):
        await faulty.ping()
    await asyncio.gather(*(faulty.ping() for _ in range(concurrent)))


await workload(2000, 1000)  # noqa: F704 - warm up: caches, freelists and the heap reach their working size
before = {"main": probeHeap(), "worker": await faulty.probe()}  # noqa: F704
started = time.monotonic()
await workload(10_000, 1000)  # noqa: F704
results["leakSeconds"] = time.monotonic() - started
after = {"main": probeHeap(), "worker": await faulty.probe()}  # noqa: F704
results["leaks"] = {"before": before, "after": after}

# ---- a worker that dies with calls pending ------------------------------------------------------------------------
doomed = await Faulty.connect("doomed", timeout=30)  # noqa: F704
# Tasks that fail while nobody awaits them yet are reported by Pyodide's loop; failure() always awaits its call.
pending = asyncio.gather(*(failure(doomed.sleep(20)) for _ in range(3)), failure(doomed.block(30.0)))
await asyncio.sleep(0.1)  # noqa: F704 - let the calls reach the worker
started = time.monotonic()
js.document.querySelector('script[name="doomed"]').xworker.terminate()
outcomes = await pending  # noqa: F704
results["terminated"] = {"outcomes": outcomes, "seconds": time.monotonic() - started}
results["afterTerminate"] = await failure(doomed.ping())  # noqa: F704

closing = await Faulty.connect("closing")  # noqa: F704
waiting = asyncio.ensure_future(failure(closing.sleep(20)))
results["closeWorker"] = await failure(closing.closeWorker())  # noqa: F704 - its own reply races the end
started = time.monotonic()
results["selfClosed"] = {"outcome": await waiting, "seconds": time.monotonic() - started}  # noqa: F704
results["afterSelfClose"] = await failure(closing.ping())  # noqa: F704
results["otherWorkerFine"] = await faulty.ping() > 0  # noqa: F704

pagekit.finish(json.loads(json.dumps(results, default=repr)))
