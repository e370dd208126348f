"""A worker of tools/stackprobe.py's ``service`` mode: runs one stack operation inside a workerlib service method,
called through workerlib's own channel, which is where a payload's values are encoded, decoded and used.

Imported by the probe page's main thread too (for the client class), where it serves nothing.
"""

import stackops

from workerlib import WorkerService


class StackProbe(WorkerService):
    def attempt(self, name: str, depth: int) -> str:
        return stackops.attempt(name, depth)


def alive():
    """Answers through PyScript's own bridge, which refuses once this worker's Pyodide fatally failed."""
    return "alive"


__export__ = ["alive"]
