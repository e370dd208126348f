"""Main thread of the services page: every WorkerService feature, checked in one boot."""

import asyncio
import inspect

import js
import pagekit
from shared_calc import Calculator
from worker_calc import Inventory
from worker_spawned import Spawned
from worker_text import TextTools

from workerlib import WorkerService, connectToWorker, server

results = {}

# The worker files imported here (worker_text, worker_spawned) must not serve anything on the main thread.
results["mainServesNothing"] = server.table.classes == [] and server.table.functions == {}

calc = await Calculator.connect()  # noqa: F704 - PyScript runs main scripts with top-level await
results["calcWorker"] = calc.workerName
results["whoami"] = await calc.whoami()  # noqa: F704
results["add"] = await calc.add(1, 2)  # noqa: F704
results["addKeywords"] = await calc.add(b=5, a=7)  # noqa: F704

results["signatures"] = {
    name: {
        "client": str(inspect.signature(getattr(calc, name))),
        "service": str(inspect.signature(getattr(Calculator, name))),
        "doc": getattr(calc, name).__doc__,
        "serviceDoc": getattr(Calculator, name).__doc__,
        "name": getattr(calc, name).__name__,
        "annotations": repr(getattr(calc, name).__annotations__),
        "serviceAnnotations": repr(getattr(Calculator, name).__annotations__),
    }
    for name in ("add", "slowSquare", "params", "whoami")
}
results["clientDoc"] = type(calc).__doc__

before = await calc.callCount()  # noqa: F704
results["badArguments"] = {
    "missing": pagekit.raised(lambda: calc.add(1)),
    "tooMany": pagekit.raised(lambda: calc.add(1, 2, 3)),
    "unknownKeyword": pagekit.raised(lambda: calc.add(1, 2, c=3)),
    "keywordOnlyMissing": pagekit.raised(lambda: calc.params(1)),
}
results["callsAfterBadArguments"] = (await calc.callCount()) - before  # noqa: F704

results["params"] = {
    "defaults": repr(await calc.params(1, k=2)),  # noqa: F704
    "everything": repr(await calc.params(1, 2, 3, 4, k=5, flag=True, extra=6, more=[7])),  # noqa: F704
    "keywordsOnly": repr(await calc.params(a=1, b=2, k=3, z=4)),  # noqa: F704
}

timedCall = calc.slowSquare(3, delay=0.05)
results["timing"] = {"before": repr(timedCall.timing), "result": await timedCall}  # noqa: F704
timing = timedCall.timing
results["timing"].update(
    {
        "type": type(timing).__name__,
        "argumentTransfer": timing.argumentTransfer,
        "execution": timing.execution,
        "returnTransfer": timing.returnTransfer,
        "total": timing.total,
        "text": str(timing),
    }
)
results["createTask"] = await asyncio.create_task(calc.add(2, 3))  # noqa: F704 - a call is a real coroutine

squares = await asyncio.gather(*(calc.slowSquare(n, delay=(n % 7) / 1000) for n in range(100)))  # noqa: F704
results["concurrent"] = squares == [n * n for n in range(100)]

results["privateMethod"] = {
    "onClient": hasattr(calc, "_secret"),
    "crafted": await pagekit.outcome(calc._call("_secret", (), {})),  # noqa: F704
    "unknown": await pagekit.outcome(calc._call("missing", (), {})),  # noqa: F704
    "inherited": await pagekit.outcome(calc._call("connect", (), {})),  # noqa: F704
}

inventory = await Inventory.connect()  # noqa: F704
results["inventory"] = {
    "worker": inventory.workerName,
    "first": await inventory.put("apple"),  # noqa: F704
    "second": await inventory.put("apple", count=2),  # noqa: F704
}

results["textAmbiguous"] = await pagekit.outcome(TextTools.connect())  # noqa: F704
text2 = await TextTools.connect("text2")  # noqa: F704
results["text2"] = {"worker": text2.workerName, "shout": await text2.shout("hi")}  # noqa: F704
text = await TextTools.connect(workerName="text")  # noqa: F704
results["text"] = {
    "worker": text.workerName,
    "differentWorker": await text.where() != await text2.where(),  # noqa: F704
    "sameClientClass": type(text) is type(text2),
}
results["wrongWorker"] = await pagekit.outcome(Calculator.connect("text"))  # noqa: F704
results["noSuchWorker"] = await pagekit.outcome(Calculator.connect("nope"))  # noqa: F704


class Unserved(WorkerService):
    def anything(self) -> None: ...


results["unserved"] = await pagekit.outcome(Unserved.connect())  # noqa: F704

results["rawWorker"] = [repr(type(calc.worker)), repr(type(calc.worker.js)), str(calc.worker)]

functions = await connectToWorker("calc")  # noqa: F704
results["exported"] = {
    "double": await functions.double(21),  # noqa: F704
    "names": list(functions.functions),
    "missing": pagekit.raised(lambda: functions.triple),
    "rawWorker": [repr(type(functions.worker)), repr(type(functions.worker.js)), str(functions.worker)],
    "repr": repr(functions),
}
results["connectToWorkerNoName"] = (await connectToWorker()).workerName  # noqa: F704


def scriptCount(name):
    return js.document.querySelectorAll(f'script[worker][name="{name}"]').length


spawned = await Spawned.spawn("/tests/browser/pages/services/worker_spawned.py", name="spawned-1")  # noqa: F704
results["spawned"] = {
    "ping": await spawned.ping("x"),  # noqa: F704
    "worker": spawned.workerName,
    "scriptsBefore": scriptCount("spawned-1"),
}
await spawned.close()  # noqa: F704
results["spawned"]["scriptsAfter"] = scriptCount("spawned-1")
results["spawned"]["afterClose"] = await pagekit.outcome(spawned.ping("y"))  # noqa: F704

async with await Spawned.spawn("/tests/browser/pages/services/worker_spawned.py") as scoped:  # noqa: F704
    results["spawnedScoped"] = {"worker": scoped.workerName, "ping": await scoped.ping("z")}  # noqa: F704
results["spawnedScoped"]["scriptsAfter"] = scriptCount(scoped.workerName)
results["spawnedScoped"]["afterClose"] = await pagekit.outcome(scoped.ping("again"))  # noqa: F704

await calc.close()  # noqa: F704
results["closedClient"] = await pagekit.outcome(calc.add(1, 2))  # noqa: F704
results["otherClientStillWorks"] = await inventory.put("apple")  # noqa: F704

pagekit.finish(results)
