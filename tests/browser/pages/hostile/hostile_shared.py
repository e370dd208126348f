"""Imported by the hostile page's main thread and its workers: exception classes whose ``__init__`` takes other
arguments than they pass to ``Exception``, the Enum a crafted payload tries to change, and the Wasm heap's size."""

from enum import Enum

INIT_CALLS = {"ImageTooSmallError": 0, "LimitExceededError": 0}
"""How often each exception's ``__init__`` ran in this interpreter: decoding one must not run it."""


class ImageTooSmallError(Exception):
    """The common pattern: ``__init__`` takes the fields, ``Exception`` gets a message made of them."""

    def __init__(self, image, minimum):
        super().__init__(f"image {image} is under {minimum} pixels")
        self.image = image
        self.minimum = minimum
        INIT_CALLS["ImageTooSmallError"] += 1


class LimitExceededError(Exception):
    """A keyword-only ``__init__``: calling the class with its ``args`` fails."""

    def __init__(self, *, field, limit):
        super().__init__(f"{field} exceeds {limit}")
        self.field = field
        self.limit = limit
        INIT_CALLS["LimitExceededError"] += 1


class Color(Enum):
    RED = 1
    GREEN = 2


def memberState():
    """Everything a payload could change on ``Color``'s members, as text: a poisoned value (a signalling NaN) must
    not make the check itself raise."""
    try:
        red = vars(Color.RED).get("_value_")
        return {
            "members": {name: repr(sorted(vars(member).items())) for name, member in Color.__members__.items()},
            "byValue": repr(sorted(Color._value2member_map_.items())),
            "lookup": Color(1) is Color.RED and Color["RED"] is Color.RED and type(red) is int and red == 1,
        }
    except Exception as error:
        return {"unreadable": f"{type(error).__name__}: {error}"}


def heapBytes():
    """The size of this interpreter's Wasm memory: it grows, and never shrinks."""
    import pyodide_js  # only inside Pyodide

    module = pyodide_js._module
    memory = getattr(module, "wasmMemory", None)
    if memory is not None:
        return int(memory.buffer.byteLength)
    return int(module.HEAP8.length)
