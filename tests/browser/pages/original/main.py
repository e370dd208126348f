"""Main side of the original-options page: the original workerlib's Option #1 (existing modules' functions exported
by a worker file of exportFrom lines), reached with connectToWorker, declared on the page and started with
create_named_worker; its [adapters], written as Python; and an inline worker config holding [exports]."""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import json
from fractions import Fraction

import pagekit
import pyscript
from shapes import Point, pointDecoder, pointEncoder

from workerlib import Worker, adapter, connectToWorker, workers

adapter(Point, encode=pointEncoder, decode=pointDecoder)  # the original's [adapters] line, in both sides' code

HERE = "/tests/browser/pages/original"
results: dict[str, object] = {}


async def use(worker: Worker) -> dict[str, object]:
    """Call every exported function and report what came back, types included."""
    mean = await worker.mean([1, 2, 4])
    split = await worker.slowSplit("a-b-c", sep="-")
    mirrored = await worker.mirror(Point(1, 2))
    return {
        "isWorker": isinstance(worker, Worker),
        "functions": list(worker.functions),
        "add": await worker.add(2, 3),
        "addStrings": await worker.add("a", "b"),
        "mean": [type(mean).__name__, str(mean), mean == Fraction(7, 3)],
        "slowSplit": [type(split).__name__, list(split)],
        "mirror": [type(mirrored).__name__, mirrored.x, mirrored.y],
        "fail": await pagekit.outcome(worker.fail("no such key")),
        "unknown": pagekit.raised(lambda: worker.LIMIT),
        "repr": repr(worker),
    }


declared = await connectToWorker()  # the page's only worker exporting functions: found without its name
results["declared"] = await use(declared)
results["declaredName"] = declared.workerName
# Its config file still has the original's [adapters]: the worker cannot read the file, the main thread can.
results["leftover"] = await pagekit.outcome(connectToWorker("leftover", timeout=20))
workers.terminate("leftover")  # a worker's memory is large: end those done with

# The original's create_named_worker variant, "with the same arguments as the <script> tag": src and config file.
await pyscript.create_named_worker(f"{HERE}/exports.py", "created", config="./exports.toml")
created = await connectToWorker("created")
results["created"] = await use(created)
results["ambiguous"] = await pagekit.outcome(connectToWorker(timeout=20))
created.worker.terminate()

# A worker whose inline config still has the original's [exports]: importing workerlib there says what to write.
inline = {**workers.mainConfig(), "exports": {"usermath": ["add", "mean"]}}
checker = await pyscript.create_named_worker(f"{HERE}/inline_check.py", "inline-exports", config=json.dumps(inline))
results["inlineExports"] = json.loads(await checker.report())
pagekit.finish(results)
