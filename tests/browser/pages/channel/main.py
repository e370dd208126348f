"""Main thread of the channel page: workerlib's own MessageChannel, seen from both ends.

Messages are counted in JavaScript on both sides (``channelkit``), so batching is checked on what really crossed, not
on workerlib's own counters alone. Each section runs under a deadline and records its failure instead of stopping the
page, so one broken behaviour fails its own tests only.
"""

import asyncio
import pickle
import struct
import traceback

import channelkit
import js
import pagekit
from slow_services import SlowFirst, SlowSecond
from worker_channel import Lab, Second

from workerlib import ProtocolError, UnsendableError, codec, protocol, transfer, workers

channelkit.installCounters()  # before the first connect: workerlib sets its port's onmessage then
results = {"mainStarted": float(js.performance.now()) / 1000}
SECTION_DEADLINE = 20.0  # seconds; a section that hangs fails its own tests, not the whole page
CONNECT_DEADLINE = 60.0  # the first connect waits for the worker to boot, slow on a busy machine

# ---- a worker still loading: connect to it at once, in the background ---------------------------------------------
# The slow worker waits for this mark before its two-second busy import, so connect() is surely called while it loads.
slowConnectCalled = float(js.Date.now())
js.window.slowGate = slowConnectCalled


async def connectSlow():
    """Two clients of the slow worker connected at once, and when both were connected (Date.now(), ms)."""
    clients = await asyncio.gather(SlowFirst.connect("slow"), SlowSecond.connect("slow"))
    return clients, float(js.Date.now())


slowConnecting = asyncio.ensure_future(connectSlow())


async def section(name, body, deadline=SECTION_DEADLINE):
    started = float(js.performance.now())
    try:
        results[name] = await asyncio.wait_for(body(), deadline)
    except Exception as error:
        results[name] = {"sectionFailed": pagekit.describeError(error), "traceback": traceback.format_exc()}
    results.setdefault("sectionSeconds", {})[name] = (float(js.performance.now()) - started) / 1000


_lab = []


async def labClient():
    """The Lab client the sections share, connected once."""
    if not _lab:
        _lab.append(await Lab.connect("chan"))
    return _lab[0]


COUNTERS = ("sentMessages", "receivedMessages", "sentFrames", "receivedFrames")


def counts(channel):
    """Messages on the channel's port as JavaScript saw them, and workerlib's own counters."""
    return {
        "js": channelkit.portCounts(channel.port),
        "channel": {name: getattr(channel, name) for name in COUNTERS},
    }


def total(portStats):
    """Messages sent and received on all of a worker's ports."""
    return {key: sum(port[key] for port in portStats) for key in ("sent", "received")}


def delta(after, before):
    if isinstance(after, dict):
        return {key: delta(after[key], before[key]) for key in after}
    return after - before


# ---- 1. many calls, few messages -----------------------------------------------------------------------------------
async def batching():
    lab = await labClient()
    channel = lab._connection.link.channel
    found = {}

    # The worker counts the portStats request that reads its counters (received) but not its reply (sent later).
    workerBefore = total(await lab.portStats())
    mainBefore = counts(channel)
    sums = await asyncio.gather(*(lab.add(n, 1000) for n in range(100)))
    mainAfter = counts(channel)
    workerAfter = total(await lab.portStats())
    found["gathered"] = {
        "resultsRight": sums == [n + 1000 for n in range(100)],
        "main": delta(mainAfter, mainBefore),
        "worker": {
            "sent": workerAfter["sent"] - workerBefore["sent"] - 1,
            "received": workerAfter["received"] - workerBefore["received"] - 1,
        },
    }

    workerBefore = total(await lab.portStats())
    mainBefore = counts(channel)
    sequential = [await lab.add(n, n) for n in range(10)]
    mainAfter = counts(channel)
    workerAfter = total(await lab.portStats())
    found["sequential"] = {
        "resultsRight": sequential == [2 * n for n in range(10)],
        "main": delta(mainAfter, mainBefore),
        "worker": {
            "sent": workerAfter["sent"] - workerBefore["sent"] - 1,
            "received": workerAfter["received"] - workerBefore["received"] - 1,
        },
    }
    return found


# ---- 2. transfer() moves buffers -----------------------------------------------------------------------------------
SIZE = 1 << 20


async def transfers():
    lab = await labClient()
    found = {}

    buffer = channelkit.pattern(SIZE, 7)
    expected = channelkit.checksum(buffer)
    seen = await lab.checksum(transfer(buffer))
    found["arrayBuffer"] = {"expected": expected, "seen": seen, "byteLengthAfter": int(buffer.byteLength)}

    array = js.Uint8Array.new(channelkit.pattern(SIZE, 11))
    expected = channelkit.checksum(array)
    seen = await lab.checksum(transfer(array))
    found["uint8Array"] = {
        "expected": expected,
        "seen": seen,
        "byteLengthAfter": int(array.byteLength),
        "bufferByteLengthAfter": int(array.buffer.byteLength),
    }

    deep = js.Uint16Array.new(channelkit.pattern(4096, 3))
    expected = await channelkit.describe(deep)
    seen = await lab.inspect({"outer": [1, transfer(deep)]})
    found["nested"] = {"expected": expected, "seen": seen, "byteLengthAfter": int(deep.byteLength)}

    moved = await lab.giveBuffer(SIZE, 5, True)
    found["returnedMoved"] = {
        "expected": channelkit.checksum(channelkit.pattern(SIZE, 5)),
        "got": channelkit.checksum(moved),
        "workerByteLengthAfter": await lab.keptLength(),
    }
    copied = await lab.giveBuffer(SIZE, 6, False)
    found["returnedCopied"] = {
        "expected": channelkit.checksum(channelkit.pattern(SIZE, 6)),
        "got": channelkit.checksum(copied),
        "workerByteLengthAfter": await lab.keptLength(),
    }
    return found


# ---- 3. JavaScript values cross as themselves ----------------------------------------------------------------------
async def clones():
    lab = await labClient()
    value = {
        "blob": channelkit.jsValue("new Blob(['hello ', 'blob'], { type: 'text/plain' })"),
        "file": channelkit.jsValue("new File(['file body'], 'notes.txt', { type: 'text/csv' })"),
        "items": [
            channelkit.jsValue("new Uint8Array([1, 2, 3, 250])"),
            channelkit.jsValue("{ label: 'plain', data: new Int16Array([-1, 300]), list: [new Float64Array([0.5])] }"),
        ],
        "view": channelkit.jsValue("new DataView(new Uint8Array([9, 8, 7]).buffer)"),
        "buffer": channelkit.pattern(16, 1),
        "python": (1, "two"),
    }
    sent = await channelkit.describe(value)
    reply = await lab.roundTrip(value)
    found = {
        "sent": sent,
        "seenInWorker": reply["seen"],
        "back": await channelkit.describe(reply["value"]),
        "senderAfter": await channelkit.describe(value),
    }

    mine = channelkit.jsValue("new Uint8Array([1, 2, 3])")
    theirs = await lab.overwriteFirstByte(mine)
    found["copyNotShare"] = {"mine": list(channelkit.bytesOf(mine)), "theirs": list(channelkit.bytesOf(theirs))}
    return found


# ---- 4. what structured clone cannot copy fails before sending -----------------------------------------------------
async def failure(awaitable):
    try:
        return {"value": await awaitable}
    except Exception as error:
        return {"error": pagekit.describeError(error), "isUnsendable": isinstance(error, UnsendableError)}


async def unsendable():
    lab = await labClient()
    channel = lab._connection.link.channel
    before = counts(channel)
    point = channelkit.jsValue("new (class Point { constructor() { this.x = 1; } })()")
    found = {
        "function": await failure(lab.take(js.Function.new("return 1"))),
        "objectHoldingFunction": await failure(lab.take(1, {"x": channelkit.jsValue("{ f: () => 1 }")})),
        "classInstance": await failure(lab.take([0, point])),
        "domNode": await failure(lab.take(cb=js.document.body)),
    }
    after = counts(channel)
    found["counts"] = {"before": before, "after": after}
    found["nextCall"] = await lab.take(1, 2, k=3)
    found["returnedFunction"] = await failure(lab.returnFunction())
    found["returnedNested"] = await failure(lab.returnNested())
    found["workerStillServes"] = await lab.add(20, 22)
    return found


# ---- 5. frames and messages the worker cannot handle ---------------------------------------------------------------
def bufferOf(data):
    return channelkit.jsValue(f"new Uint8Array({list(data)}).buffer")


async def replyOf(link, kind, payload):
    frame = await link.request(kind, payload, f"a frame of kind {kind}")
    ok, value, _ = await protocol.decodeReply(frame.payload, frame.attached)
    found = {"replyKind": int(frame.kind), "ok": ok}
    if ok:
        found["value"] = repr(value)
    else:
        error = await value.rebuild(f"a frame of kind {kind}")
        found["error"] = pagekit.describeError(error)
        found["isProtocolError"] = isinstance(error, ProtocolError)
    return found


async def malformed():
    lab = await labClient()
    link = lab._connection.link
    found = {
        "unknownKind": await replyOf(link, 99, b""),
        "afterUnknownKind": await lab.add(1, 2),
        "garbageRequest": await replyOf(link, protocol.FrameKind.REQUEST, b"\x80\x05garbage"),
        "afterGarbageRequest": await lab.add(3, 4),
    }

    junk = [
        "not a batch",
        None,
        bufferOf(b"\x00junk junk junk"),
        bufferOf(b"WL"),
        bufferOf(struct.pack("<3sBI", b"WLB", protocol.VERSION, 1000)),
        bufferOf(struct.pack("<3sBI", b"WLB", 99, 0)),
        channelkit.jsValue("[123, 'x', 'y']"),
        channelkit.jsValue("[new ArrayBuffer(3), null, 'not a buffer']"),
    ]
    workerBefore = total(await lab.portStats())
    for message in junk:
        link.channel.port.postMessage(message)
    found["afterJunk"] = await lab.add(5, 6)
    workerAfter = total(await lab.portStats())
    # Received: the junk, the add and the second portStats request.
    found["junkPosted"] = len(junk)
    found["workerReceived"] = workerAfter["received"] - workerBefore["received"] - 2
    found["linkGone"] = link.gone
    return found


# ---- 6. one channel per worker -------------------------------------------------------------------------------------
async def sharing():
    lab = await labClient()
    second = await Second.connect("chan")
    labLink, secondLink = lab._connection.link, second._connection.link
    return {
        "sameLink": labLink is secondLink,
        "sameChannel": labLink.channel is secondLink.channel,
        "samePort": bool(labLink.channel.port == secondLink.channel.port),
        "bothWork": [await lab.add(1, 1), await second.ping("b")],
        "sameWorker": await lab.token() == await second.token(),
        "workerPorts": len(await lab.portStats()),
        # What connect() compares to decide whether a link still reaches the same worker: PyScript's worker object.
        "workerObjects": await sameObject(workers.workerByName("chan"), workers.workerByName("chan")),
    }


async def sameObject(first, second):
    """Whether two awaited JsProxy values are one Python object, and whether they wrap one JavaScript object."""
    a, b = await first, await second
    return {"identical": a is b, "sameJsObject": bool(a == b)}


async def slowWorker():
    (first, second), connected = await slowConnecting
    lab = await labClient()
    firstLink, labLink = first._connection.link, lab._connection.link
    return {
        "connectCalled": slowConnectCalled,
        "connected": connected,
        "loading": await first.loading(),
        "add": await first.add(2, 3),
        "shout": await second.shout("hi"),
        "sameLink": first._connection.link is second._connection.link,
        "workerPorts": len(await first.portStats()),
        "otherWorker": {
            "linkDiffers": firstLink is not labLink,
            "portDiffers": not bool(firstLink.channel.port == labLink.channel.port),
        },
    }


# ---- 7. long lists go ahead in parts -------------------------------------------------------------------------------
def records(count):
    return [{"id": n, "name": f"name {n}", "score": n * 0.5, "tags": [f"t{n % 7}", n]} for n in range(count)]


async def framed(channel, call):
    """What ``call`` returned, and the frames and messages it took each way on workerlib's own counters."""
    before = counts(channel)["channel"]
    result = await call
    return result, delta(counts(channel)["channel"], before)


async def craftedPart(lab, part):
    """Send ``part`` ahead of a request that refers to the list it would build; what the worker answered."""
    link = lab._connection.link
    ident = link.nextId()
    link.channel.send(protocol.Frame(protocol.FrameKind.PART, ident, part))
    message = (protocol.OP_CALL, ("Lab", "worker_channel", "echo"), (codec.JOINED,), {})
    frame = await link.request(protocol.FrameKind.REQUEST, codec.encode(message), "a crafted call", ident=ident)
    ok, value, _ = await protocol.decodeReply(frame.payload)
    refused = {"ok": ok, "workerParts": await lab.pendingParts()}
    if not ok:
        refused["error"] = pagekit.describeError(await value.rebuild("a crafted call"))
    refused["after"] = await lab.add(1, 2)
    return refused


async def inParts():
    lab = await labClient()
    channel = lab._connection.link.channel
    value = records(5000)
    echoed, frames = await framed(channel, lab.echo(value))
    found = {"echo": {"equal": echoed == value, "frames": frames}}
    made, frames = await framed(channel, lab.records(5000))
    found["result"] = {"equal": made == value, "frames": frames}
    shared = {"kept": "once"}
    twice = [shared, shared, *value]
    sameThere, frames = await framed(channel, lab.sameTwice(twice))
    back = await lab.echo(twice)
    found["shared"] = {"sameThere": sameThere, "sameBack": back[0] is back[1], "equal": back == twice, "frames": frames}

    # Records go as trees (keys preset, nothing memoized), which the receiver measures without a budget.
    found["treeLayout"] = (codec.encodePart(records(600)) or b"").startswith(codec.TREE_PART)

    # A crafted part (a dict, not a list) ahead of a request that refers to the list it would build: the request
    # fails naming the refused part, and the worker serves the next call.
    found["refusedPart"] = await craftedPart(lab, codec.encode({"not": "a list"}))
    # A crafted part in the tree layout that memoizes, to hand one list to two places: refused as well.
    twiceHeld = [1, 2]
    body = pickle.dumps([[twiceHeld, twiceHeld]], codec.PROTOCOL)
    found["memoizingTree"] = await craftedPart(lab, codec.TREE_PART + bytes(4) + body)

    # A reply that refers to parts that never came: refused on the main thread, and the next call works.
    try:
        found["joinedWithoutParts"] = {"value": repr(await lab.returnJoined())}
    except Exception as error:
        found["joinedWithoutParts"] = {"error": pagekit.describeError(error), "after": await lab.add(3, 4)}
    return found


async def connecting():
    lab = await labClient()
    return {"worker": lab.workerName}


await section("connect", connecting, CONNECT_DEADLINE)  # noqa: F704 - PyScript runs main scripts with top-level await
await section("batching", batching)  # noqa: F704
await section("transfers", transfers)  # noqa: F704
await section("clones", clones)  # noqa: F704
await section("unsendable", unsendable)  # noqa: F704
await section("malformed", malformed)  # noqa: F704
await section("sharing", sharing)  # noqa: F704
await section("slow", slowWorker)  # noqa: F704
await section("parts", inParts)  # noqa: F704
results["pageSeconds"] = float(js.performance.now()) / 1000
pagekit.finish(results)
