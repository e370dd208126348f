"""Main thread of the hostile page: pathological worker methods and crafted replies, each a section of results.

Each section records its failure instead of stopping the page, and the results so far are kept on the JavaScript
side after every step: if a crafted reply kills this thread's interpreter (an unprotected decoder hashing a deep
tuple), a JavaScript watchdog still reports them, with ``mainDied`` saying what happened.
"""

import asyncio
import builtins
import json
import time
import traceback

import attackpayloads  # noqa: F401 - defines the classes issue 20's payloads name (Link) on this thread
import js
import pagekit
import pyodide_js
import stackops
from hostile_shared import INIT_CALLS, ImageTooSmallError, LimitExceededError, heapBytes, memberState
from worker_hostile import CRAFTED, EXEC_MARK, Hostile

import workerlib
from workerlib import codec

NESTING_LIMIT = getattr(codec, "NESTING_LIMIT", None)
# Until the codec has its NESTING_LIMIT (issue 12), the page still runs, at the design's value.
DEPTH = NESTING_LIMIT if isinstance(NESTING_LIMIT, int) else 1000
TOO_DEEP = 100_000
CALL_TIMEOUT = 10.0  # seconds: the deadline of every call on a worker a pathological call may kill
SECTION_DEADLINE = 60.0
BOOT_DEADLINE = 120.0  # four workers boot at once on a busy 2-core machine

results = {"nestingLimit": NESTING_LIMIT, "depth": DEPTH, "craftedKinds": list(CRAFTED)}

_WATCHDOG_JS = r"""
(api) => {
  const check = (reason) => {
    if (window.pageResult !== undefined) return;
    try {
      void api.globals;  // throws once this thread's Pyodide fatally failed (a PyProxy call would not)
    } catch (error) {
      const partial = JSON.parse(window.hostilePartial || "{}");
      partial.mainDied = { reason: String(reason), check: String(error) };
      window.pageResult = JSON.stringify(partial);
    }
  };
  // A worker's uncaught errors reach this window too: only a Pyodide that refuses service means this thread died.
  addEventListener("error", (event) => check(event.message));
  addEventListener("unhandledrejection", (event) => check(event.reason));
}
"""
js.Function.new(f"return {_WATCHDOG_JS.strip()}")()(pyodide_js)


def publish():
    """Keep the results so far where the watchdog finds them."""
    js.window.hostilePartial = json.dumps(results, default=repr)


WORKERLIB_ERRORS = (
    "WorkerlibError",
    "UnsendableError",
    "DecodeError",
    "ProtocolError",
    "RemoteError",
    "WorkerClosedError",
    "AdapterError",
)


def describe(error):
    found = pagekit.describeError(error)
    found["messageLength"] = len(found["message"])
    found["message"] = found["message"][:2000]
    found["notes"] = [note[:2000] for note in found["notes"]]
    found["remoteType"] = getattr(error, "remoteType", None)
    found["isinstance"] = [name for name in WORKERLIB_ERRORS if isinstance(error, getattr(workerlib, name, ()))]
    found["isinstance"] += [name for name in ("TypeError", "ValueError") if isinstance(error, getattr(builtins, name))]
    return found


async def attempt(awaitable):
    """``{"value": ..., "seconds": ...}`` or ``{"error": describe(...), "seconds": ...}``; BaseException included."""
    started = time.monotonic()
    try:
        value = await awaitable
    except BaseException as error:  # SystemExit and KeyboardInterrupt from a worker included: recorded, not obeyed
        return {"error": describe(error), "seconds": time.monotonic() - started}
    plain = isinstance(value, (int, str, dict)) or (isinstance(value, list) and stackops.depthOf(value)[0] <= 2)
    shown = value if plain else repr(value)[:200]  # a deep value as a short text: json.dumps recurses
    return {"value": shown, "seconds": time.monotonic() - started}


async def section(name, body, deadline=SECTION_DEADLINE):
    results["running"] = name
    publish()
    started = time.monotonic()
    try:
        results[name] = await asyncio.wait_for(body(), deadline)
    except BaseException as error:
        results[name] = {"sectionFailed": describe(error), "traceback": traceback.format_exc()}
    results.setdefault("sectionSeconds", {})[name] = time.monotonic() - started
    publish()


clients = {}
WORKERS = ("hostile", "deep", "deeperror", "fatal")


async def connectOne(name):
    # Booting takes longer than a call may: wait for the worker first, then connect with the calls' deadline.
    await Hostile.connect(name, timeout=BOOT_DEADLINE)
    clients[name] = await Hostile.connect(name, timeout=CALL_TIMEOUT)
    return await clients[name].ping()


async def connectAll():
    """Each worker connected on its own: one that fails fails only the sections that use it."""
    return dict(zip(WORKERS, await asyncio.gather(*(attempt(connectOne(name)) for name in WORKERS)), strict=True))


def client(name):
    if name not in clients:
        raise RuntimeError(f"worker {name!r} could not be connected: {results['connect'][name]}")
    return clients[name]


async def margin():
    return {
        "worker": await client("hostile").margin(DEPTH),
        "main": {name: stackops.attempt(name, DEPTH) for name in stackops.OPERATIONS},
    }


async def ownInit():
    """Item 4: exceptions whose __init__ takes other arguments than their args arrive as themselves."""
    hostile = client("hostile")
    initCalls = dict(INIT_CALLS)
    found = {}
    try:
        await hostile.raiseImageTooSmall("cat.png", 640)
    except ImageTooSmallError as error:
        found["imageTooSmall"] = {
            "caught": True,
            "args": list(error.args),
            "image": getattr(error, "image", "<missing>"),
            "minimum": getattr(error, "minimum", "<missing>"),
            "attributes": sorted(name for name in vars(error) if name != "__notes__"),
            "notes": [note[:300] for note in getattr(error, "__notes__", [])],
        }
    except BaseException as error:
        found["imageTooSmall"] = {"caught": False, "error": describe(error)}
    try:
        await hostile.raiseLimitExceeded("width", 4096)
    except LimitExceededError as error:
        found["limitExceeded"] = {
            "caught": True,
            "args": list(error.args),
            "field": getattr(error, "field", "<missing>"),
            "limit": getattr(error, "limit", "<missing>"),
            "attributes": sorted(name for name in vars(error) if name != "__notes__"),
        }
    except BaseException as error:
        found["limitExceeded"] = {"caught": False, "error": describe(error)}
    found["initCallsOnMain"] = {name: INIT_CALLS[name] - initCalls[name] for name in INIT_CALLS}
    found["after"] = await attempt(hostile.ping())
    return found


async def baseExceptions():
    """Item 3: SystemExit, KeyboardInterrupt, GeneratorExit raised by a method."""
    hostile = client("hostile")
    found = {}
    for name in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
        outcome = await attempt(hostile.raiseBase(name))
        outcome["wentOn"] = True  # this line ran: the main program was not stopped
        outcome["after"] = await attempt(hostile.ping())
        found[name] = outcome
    return found


async def deepValues():
    """Item 1: a value at NESTING_LIMIT arrives, either way; one level more, and 100,000 levels, do not; the worker
    lives on."""
    deep = client("deep")
    found = {}
    started = time.monotonic()
    try:
        value = await deep.deepList(DEPTH)
        depth, leaf = stackops.depthOf(value)
        found["atLimit"] = {"depth": depth, "leaf": leaf, "type": type(value).__name__}
    except BaseException as error:
        found["atLimit"] = {"error": describe(error)}
    found["atLimit"]["seconds"] = time.monotonic() - started
    found["argsAtLimit"] = await attempt(deep.depthOf(stackops.nestedList(DEPTH)))
    found["argsOverLimit"] = await attempt(deep.depthOf(stackops.nestedList(DEPTH + 1)))
    found["overLimit"] = await attempt(deep.deepList(DEPTH + 1))
    found["afterOver"] = await attempt(deep.ping())
    found["tooDeep"] = await attempt(deep.deepList(TOO_DEEP))
    found["afterTooDeep"] = await attempt(deep.ping())
    return found


async def deepError():
    """Item 2: an exception holding a 100,000-deep value."""
    deeperror = client("deeperror")
    return {
        "raised": await attempt(deeperror.raiseDeep(TOO_DEEP)),
        "after": await attempt(deeperror.ping()),
    }


async def killedInterpreter():
    """Item 5: a method that kills the worker's interpreter; calls on it fail, other workers still answer."""
    fatal = client("fatal")
    return {
        "before": await attempt(fatal.ping()),
        "killing": await attempt(fatal.killInterpreter()),
        "next": await attempt(fatal.ping()),
        "otherWorker": await attempt(client("hostile").ping()),
    }


def execMark():
    return bool(js.Reflect.has(js.globalThis, EXEC_MARK))


async def printing(awaitable, printed):
    """``awaitable``'s outcome; an exception it raises is printed in full first (traceback, chain and notes, as a
    console would) and ``printed["length"]`` set: a rebuilt exception with fields out of range crashed the
    interpreter printing it (issue 20)."""
    try:
        return await awaitable
    except BaseException as error:
        printed["length"] = len("".join(traceback.format_exception(error)))
        raise


async def crafted():
    """Item 6: the worker answers with crafted bytes; this thread must refuse them, unharmed."""
    hostile = client("hostile")
    found = results["crafted"] = {}  # filled as it goes: the last kinds may kill an unprotected decoder
    for kind in CRAFTED:
        results["runningCrafted"] = kind
        state, heap = memberState(), heapBytes()
        publish()
        printed = {}
        outcome = found[kind] = await attempt(printing(hostile.lie(kind), printed))
        outcome["printed"] = printed.get("length")
        outcome["heapGrowth"] = heapBytes() - heap
        outcome["enumState"] = memberState()
        outcome["enumIntact"] = outcome["enumState"] == state
        outcome["ranCode"] = execMark()
        outcome["after"] = await attempt(hostile.ping())
        publish()
    return found


async def runAll():
    await section("connect", connectAll, BOOT_DEADLINE + CALL_TIMEOUT)
    await section("margin", margin)
    await section("ownInit", ownInit)
    await section("baseExceptions", baseExceptions)
    await section("deepValues", deepValues)
    await section("deepError", deepError)
    await section("killedInterpreter", killedInterpreter)
    await section("crafted", crafted, SECTION_DEADLINE * 2)


await runAll()  # noqa: F704 - PyScript runs main scripts with top-level await
results["running"] = None
results["finished"] = True
pagekit.finish(json.loads(json.dumps(results, default=repr)))
