"""Main thread of the map page: ``client.map`` on a real worker, its messages counted in JavaScript on both ends.

Each section runs under a deadline and records its failure instead of stopping the page, so one broken behaviour
fails its own tests only.
"""

import asyncio

import channelkit
import js
import pagekit
from worker_map import Mapper

from workerlib import UnsendableError

channelkit.installCounters()  # before the first connect: workerlib sets its port's onmessage then
results = {}
SECTION_DEADLINE = 20.0  # seconds; a section that hangs fails its own tests, not the whole page
CONNECT_DEADLINE = 60.0  # the first connect waits for the worker to boot, slow on a busy machine


async def section(name, body, deadline=SECTION_DEADLINE):
    await pagekit.section(results, name, body, deadline)


_mapper = []


async def mapperClient():
    if not _mapper:
        _mapper.append(await Mapper.connect("mapper"))
    return _mapper[0]


def total(portStats):
    return {key: sum(port[key] for port in portStats) for key in ("sent", "received")}


async def stoppedAfter(mapper, count):
    """How many held calls the worker saw end, once ``count`` have or after a second."""
    for _ in range(100):
        stopped = await mapper.stoppedCount()
        if stopped >= count:
            break
        await asyncio.sleep(0.01)
    return stopped


async def connecting():
    mapper = await mapperClient()
    return {"worker": mapper.workerName}


async def hundred():
    mapper = await mapperClient()
    channel = mapper._connection.link.channel
    # The worker counts the portStats request that reads its counters (received) but not its reply (sent later).
    workerBefore = total(await mapper.portStats())
    mainBefore = channelkit.portCounts(channel.port)
    framesBefore = (channel.sentFrames, channel.receivedFrames)
    sums = await mapper.map(Mapper.add, range(100), range(1000, 1100))
    mainAfter = channelkit.portCounts(channel.port)
    framesAfter = (channel.sentFrames, channel.receivedFrames)
    workerAfter = total(await mapper.portStats())
    return {
        "resultsRight": sums == [2 * n + 1000 for n in range(100)],
        "main": {key: mainAfter[key] - mainBefore[key] for key in mainAfter},
        "frames": [after - before for after, before in zip(framesAfter, framesBefore, strict=True)],
        "worker": {key: workerAfter[key] - workerBefore[key] - 1 for key in workerAfter},
        "boundMethod": await mapper.map(mapper.add, [1, 2, 3], [10, 20]),
    }


async def failing():
    mapper = await mapperClient()
    before = await mapper.stoppedCount()
    found = {}
    try:
        found["value"] = await mapper.map(Mapper.holdUnlessThree, range(6))
    except ValueError as error:
        found["error"] = str(error)
        found["notes"] = getattr(error, "__notes__", [])[:1]
    found["stopped"] = await stoppedAfter(mapper, before + 5) - before
    return found


async def timingOut():
    mapper = await mapperClient()
    before = await mapper.stoppedCount()
    found = {}
    try:
        found["value"] = await mapper.map(Mapper.hold, range(4)).withTimeout(0.3)
    except TimeoutError as error:
        found["error"] = str(error)
    found["stopped"] = await stoppedAfter(mapper, before + 4) - before
    found["after"] = await mapper.map(Mapper.add, [1], [2])
    return found


async def cancelling():
    mapper = await mapperClient()
    before = await mapper.stoppedCount()
    task = asyncio.ensure_future(mapper.map(Mapper.hold, range(3)))
    await asyncio.sleep(0.3)
    task.cancel()
    try:
        await task
        outcome = "finished"
    except asyncio.CancelledError:
        outcome = "cancelled"
    return {"outcome": outcome, "stopped": await stoppedAfter(mapper, before + 3) - before}


async def unsendable():
    mapper = await mapperClient()
    try:
        await mapper.map(Mapper.add, [1, 2, js.console.log], [1, 2, 3])
    except UnsendableError as error:
        return {"error": str(error)}
    return {"error": None}


await section("connect", connecting, CONNECT_DEADLINE)  # noqa: F704 - PyScript runs main scripts with top-level await
await section("hundred", hundred)  # noqa: F704
await section("failing", failing)  # noqa: F704
await section("timingOut", timingOut)  # noqa: F704
await section("cancelling", cancelling)  # noqa: F704
await section("unsendable", unsendable)  # noqa: F704
pagekit.finish(results)
