"""A worker of tools/stackprobe.py: runs one stack operation when the main thread asks, through PyScript's own bridge
(no workerlib: the probe measures Pyodide, not the library)."""

import stackops


def probe(name, depth):
    return stackops.attempt(str(name), int(depth))


def alive():
    return "alive"


__export__ = ["alive", "probe"]
