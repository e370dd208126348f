"""Which classes cross between threads as they are, without an adapter.

The bottom of the value ladder: :mod:`workerlib.adapters` checks new adapters against it and :mod:`workerlib.codec`
encodes and rebuilds instances of these kinds.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import fractions
import pathlib
import uuid
from enum import Enum

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


def isRebuildableClass(kind: type) -> bool:
    """Whether instances of ``kind`` may be rebuilt from a payload: built-in values, standard value types, Enum
    members, dataclass and ``NamedTuple`` instances, exceptions."""
    return (
        kind in STANDARD_TYPES
        or kind in BUILTIN_VALUES
        or issubclass(kind, (Enum, BaseException))
        or dataclasses.is_dataclass(kind)
        or (issubclass(kind, tuple) and hasattr(kind, "_fields"))
    )
