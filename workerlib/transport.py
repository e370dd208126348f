"""The boundary with JavaScript: payload bytes in and out of JS objects.

Everything workerlib sends between threads is one ``bytes`` payload (see ``codec``). Crossing into JavaScript it becomes
a ``Uint8Array`` that structured clone copies as one block, which is far cheaper than letting PyScript convert nested
Python containers element by element. This module is the only one that touches ``JsProxy`` objects.
"""

from __future__ import annotations

from typing import Any

from ._runtime import importBrowserModule


def payloadToJs(payload: bytes | bytearray | memoryview) -> Any:
    """Copy a payload into a new JavaScript ``Uint8Array`` that can be posted to another thread."""
    ffi = importBrowserModule("pyodide.ffi")
    # to_js copies the buffer into a fresh Uint8Array owned by JavaScript, so no PyProxy is left to destroy.
    return ffi.to_js(memoryview(payload).cast("B"))


def payloadFromJs(value: Any) -> bytes:
    """Copy a payload received from JavaScript (a ``Uint8Array``, ``ArrayBuffer`` or Python buffer) into ``bytes``.

    Raises ``TypeError`` naming what arrived when it is not binary data, so a malformed message is reported rather
    than silently misread.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    ffi = importBrowserModule("pyodide.ffi")
    if isinstance(value, ffi.JsProxy):
        typeName = str(getattr(value, "constructor", None) and value.constructor.name)
        if typeName == "Uint8Array" or typeName == "ArrayBuffer":
            return bytes(value.to_bytes())
        raise TypeError(f"workerlib payload must be a Uint8Array or ArrayBuffer, got a JavaScript {typeName}")
    raise TypeError(f"workerlib payload must be binary data, got {type(value).__qualname__}")
