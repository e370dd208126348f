"""Main side of the boot page: workerlib loads here and in a worker, both from the served wheel."""

import sys
from importlib.metadata import version

import pagekit
from pyscript import workers

from workerlib import _runtime

worker = await workers["boot"]  # noqa: F704 - PyScript runs main scripts with top-level await
fromWorker = (await worker.describe()).to_py()  # noqa: F704

pagekit.finish(
    {
        "main": {
            "context": _runtime.context().value,
            "workerlib": version("pyscript-workerlib"),
            "wrapt": version("wrapt"),
            "python": sys.version.split()[0],
        },
        "worker": fromWorker,
    }
)
