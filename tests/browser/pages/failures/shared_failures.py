"""Imported by main and by the workers of the failures page: an exception class and an adapter that can fail."""

import gc

from workerlib import adapter


class AppError(Exception):
    """An application error both sides can rebuild."""


class Fragile:
    """Crosses through an adapter whose encode fails for ``broken`` objects and whose decode fails on 'poison'."""

    def __init__(self, label: str, broken: bool = False) -> None:
        self.label = label
        self.broken = broken


@adapter(Fragile)
class FragileAdapter:
    @staticmethod
    def encode(fragile: Fragile) -> str:
        if fragile.broken:
            raise ValueError(f"cannot encode {fragile.label}")
        return fragile.label

    @staticmethod
    def decode(label: str) -> Fragile:
        if label == "poison":
            raise ValueError("refusing to decode poison")
        return Fragile(label)


def probeHeap() -> dict:
    """What this interpreter holds: Wasm heap size, JavaScript references, live PyProxies, Python objects.

    PyProxies are only counted once ``pyodide_js._module.enable_pyproxy_allocation_tracing()`` has run.
    """
    import pyodide_js  # only inside Pyodide; this module is also imported where the page is built

    gc.collect()
    return {
        "heapBytes": int(pyodide_js._module.HEAPU8.buffer.byteLength),
        "jsRefs": int(pyodide_js._module._hiwire_num_refs()),
        "pyProxies": int(pyodide_js._module.pyproxy_alloc_map.size),
        "pyObjects": len(gc.get_objects()),
    }
