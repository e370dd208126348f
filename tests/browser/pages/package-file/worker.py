"""Worker side of the package-file page: workerlib and wrapt came from ``workerlib.toml`` through ``packages``."""

import sys
from importlib.metadata import version
from pathlib import Path

import wrapt

import workerlib
from workerlib import WorkerService


def loaded():
    """Where workerlib came from and what it knows of itself, as this interpreter sees it."""
    return {
        "workerlib": workerlib.__version__,
        "distribution": version("pyscript-workerlib"),
        "workerlibFile": workerlib.__file__,
        "typed": (Path(workerlib.__file__).parent / "py.typed").is_file(),
        "wrapt": version("wrapt"),
        "wraptFile": wrapt.__file__,
        "python": sys.version.split()[0],
    }


class Loaded(WorkerService):
    def where(self):
        return loaded()

    def scale(self, values, factor=2):
        return {key: value * factor for key, value in values.items()}
