"""Worker side of the boot page: reports what it sees through a raw PyScript export."""

import sys
from importlib.metadata import version

import workerlib
from workerlib import _runtime


def describe():
    return {
        "context": _runtime.context().value,
        "workerlib": version("pyscript-workerlib"),
        "workerlibFile": workerlib.__file__,
        "wrapt": version("wrapt"),
        "python": sys.version.split()[0],
    }


__export__ = ["describe"]
