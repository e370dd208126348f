"""Which classes cross between threads as they are, without an adapter.

The bottom of the value ladder: :mod:`workerlib.adapters` checks new adapters against it and :mod:`workerlib.codec`
encodes and rebuilds instances of these kinds.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import pathlib
import uuid
from enum import Enum
from typing import Any

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
        uuid.SafeUUID,
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

# Looked up by identity: hashing a class a payload named would run its metaclass's __hash__, if it has one. (These
# classes live as long as the interpreter, so their ids stay theirs.)
_LISTED = frozenset(map(id, STANDARD_TYPES | BUILTIN_VALUES))

# A class's MRO and namespace read through type's own descriptors: ``cls.__mro__`` or ``vars(cls)`` would go through
# its metaclass, whose __getattribute__ or __getattr__ could run code.
classMro: Any = type.__dict__["__mro__"].__get__
"""``classMro(cls)``: ``cls.__mro__``, without asking ``cls``'s metaclass."""
classNamespace: Any = type.__dict__["__dict__"].__get__
"""``classNamespace(cls)``: ``vars(cls)``, without asking ``cls``'s metaclass."""


def isRebuildableClass(kind: type) -> bool:
    """Whether instances of ``kind`` may be rebuilt from a payload: built-in values, standard value types, Enum
    members, dataclass and ``NamedTuple`` instances, exceptions.

    Safe on any class, a payload's choice included: it reads only ``kind``'s MRO and the namespaces along it, never
    an attribute through the class (``dataclasses.is_dataclass`` would, and so run a metaclass's ``__getattr__``).
    """
    if id(kind) in _LISTED:
        return True
    mro = classMro(kind)
    if any(klass is Enum or klass is BaseException for klass in mro):
        return True
    namespaces = [classNamespace(klass) for klass in mro]
    return any("__dataclass_fields__" in namespace for namespace in namespaces) or (
        any(klass is tuple for klass in mro) and any("_fields" in namespace for namespace in namespaces)
    )
