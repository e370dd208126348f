"""Values to one ``bytes`` payload and back: exact types, shared references and cycles kept, adapters applied.

The payload is a pickle (protocol 5): CPython's C pickler is the fastest way inside Pyodide to turn nested Python
values into one block of bytes, and one block crosses between threads far cheaper than a tree of JavaScript objects.
Pickle alone would let a payload run code, so both directions are restricted:

* :func:`encode` refuses, before anything is sent, any object that is neither a built-in value, a standard value type
  (``datetime``, ``Decimal``, ``UUID``...), an ``Enum`` member, a dataclass or ``NamedTuple`` instance, an exception,
  nor handled by a registered adapter, naming where in the value it sits.
* :func:`decode` never imports anything: it only looks up classes in modules already imported on this side, and only
  classes of those same kinds, plus workerlib's own hook for adapted data.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import fractions
import io
import pathlib
import pickle
import sys
import uuid
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

from .adapters import registry
from .errors import ProtocolError

PROTOCOL = 5

STANDARD_TYPES: frozenset[type] = frozenset(
    {
        complex,
        bytearray,
        set,
        frozenset,
        bytes,
        datetime.date,
        datetime.time,
        datetime.datetime,
        datetime.timedelta,
        datetime.timezone,
        decimal.Decimal,
        fractions.Fraction,
        uuid.UUID,
        pathlib.PurePath,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
        pathlib.Path,
        pathlib.PosixPath,
        pathlib.WindowsPath,
    }
)
"""Classes outside the built-in containers that cross without an adapter."""

BUILTIN_VALUES: frozenset[type] = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})


class UnsendableError(TypeError):
    """A value cannot cross to the other thread; the message names its type and where it sits."""


class DecodeError(ProtocolError):
    """A payload could not be decoded: malformed, or naming a class this side refuses or does not have."""


def isRebuildableClass(kind: type) -> bool:
    """Whether instances of ``kind`` may be rebuilt from a payload: the kinds named in this module's docstring."""
    return (
        kind in STANDARD_TYPES
        or kind in BUILTIN_VALUES
        or issubclass(kind, (Enum, BaseException))
        or dataclasses.is_dataclass(kind)
        or (issubclass(kind, tuple) and hasattr(kind, "_fields"))
    )


def _restoreAdapted(key: str, data: Any) -> Any:
    """Called while decoding for data an adapter encoded: finds that adapter here and runs its decoder."""
    found = registry.byKey.get(key)
    if found is None:
        raise DecodeError(
            f"received a value encoded by the adapter for {key}, but no such adapter is registered on this side; "
            f"import the module that registers it (with @adapter({key.rsplit('.', 1)[-1]})) here as well"
        )
    return found.decode(data)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Called for every object outside pickle's fast path (exact built-in values), classes included.
        if isinstance(obj, type):
            if isRebuildableClass(obj):
                return NotImplemented
            raise UnsendableError(f"cannot send the class {_name(obj)} itself; only values cross")
        if obj is _restoreAdapted:
            return NotImplemented
        found = registry.match(obj)
        if found is not None:
            data = found.encode(obj) if found.encode is not None else obj
            return _restoreAdapted, (found.key, data)
        kind = type(obj)
        if isRebuildableClass(kind):
            return NotImplemented
        if kind is memoryview:
            return bytes, (obj.tobytes(),)
        raise UnsendableError(_unsendableMessage(kind))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        loaded = sys.modules.get(module)
        if loaded is None:
            raise DecodeError(
                f"cannot rebuild {module}.{name}: module {module!r} is not imported on this side; import it here too"
            )
        found: Any = loaded
        for part in name.split("."):
            found = getattr(found, part, None)
            if found is None:
                raise DecodeError(f"cannot rebuild {module}.{name}: module {module!r} has no {name!r} on this side")
        if found is _restoreAdapted or (isinstance(found, type) and isRebuildableClass(found)):
            return found
        raise DecodeError(
            f"refusing to rebuild {module}.{name}: payloads may only name standard value types, Enum, dataclass, "
            f"NamedTuple and exception classes, or adapted types"
        )


def encode(value: Any, *, where: str = "value") -> bytes:
    """Turn ``value`` into a payload, or raise :class:`UnsendableError` naming the part that cannot cross.

    ``where`` names the value in error messages, such as ``args`` or ``return value``.
    """
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=PROTOCOL).dump(value)
    except UnsendableError as error:
        raise UnsendableError(f"{_locate(value, where) or where}: {error}") from None
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as error:
        location = _locate(value, where) or where
        raise UnsendableError(f"{location}: {error}") from error
    return buffer.getvalue()


def decode(payload: bytes | bytearray | memoryview) -> Any:
    """Rebuild the value a payload holds, or raise :class:`DecodeError` saying why it cannot be."""
    try:
        return _Unpickler(io.BytesIO(payload)).load()
    except DecodeError:
        raise
    except Exception as error:
        raise DecodeError(f"malformed payload ({len(payload)} bytes): {type(error).__name__}: {error}") from error


def _name(kind: type) -> str:
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _unsendableMessage(kind: type) -> str:
    short = kind.__qualname__
    return f"cannot send {_name(kind)}; register an adapter with @adapter({short})"


def _isSendableLeaf(obj: Any) -> bool:
    kind = type(obj)
    if kind in BUILTIN_VALUES or registry.match(obj) is not None:
        return True
    return isRebuildableClass(kind) or kind is memoryview


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if type(obj) is dict:
        for key, item in obj.items():
            yield f"[{key!r}] (key)", key
            yield f"[{key!r}]", item
    elif type(obj) in (list, tuple) or (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        for index, item in enumerate(obj):
            yield f"[{index}]", item
    elif type(obj) in (set, frozenset):
        for item in obj:
            yield f"{{{item!r}}}", item
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield f".{field.name}", getattr(obj, field.name, None)


def _locate(value: Any, root: str, isBad: Callable[[Any], bool] | None = None) -> str | None:
    """Path to the first part of ``value`` that cannot be sent, like ``args[1]['points'][3]``, or None."""
    bad = isBad or (lambda obj: not _isSendableLeaf(obj))
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, obj = stack.pop()
        if bad(obj):
            return path
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        # Reversed so the first child is examined first: the error names the earliest offender.
        stack.extend((path + step.removesuffix(" (key)"), child) for step, child in reversed(list(_children(obj))))
    return None
