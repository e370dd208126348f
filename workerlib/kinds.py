"""What crosses between threads as it is, without an adapter: the one table of value types.

Each type is declared once, in :data:`KINDS`, with everything either side needs to know of it: whether it is a level
of depth or a scalar, whether the pickler writes it natively, whether a sender can aim its hash, and for a standard
value type the rule it travels by (what its encoder sends, and the only shape, checked by type and range, its
decoder rebuilds it from). Every other list of types in workerlib derives from the table: the adapters' natively
pickled types, the scalars of :mod:`~workerlib.nesting`, the rules of :mod:`~workerlib.rebuild`, the classes the
screen (:mod:`~workerlib.screening`) knows by name. Adding a built-in type is one entry.

Beyond the table, instances of Enum, dataclass, ``NamedTuple`` and exception classes cross too (see
:func:`isRebuildableClass`); their rules live in :mod:`~workerlib.rebuild`.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import fractions
import pathlib
import uuid
from collections.abc import Callable
from enum import Enum
from typing import Any

from .errors import DecodeError, UnsendableError

FRACTION_BITS = 65536
"""How many bits a ``Fraction``'s numerator and denominator may each have to cross (about 19,700 digits)."""

DECIMAL_EXPONENT = 999_999
"""How far from zero a ``Decimal``'s adjusted exponent may be to cross: the default context's range."""

DECIMAL_DIGITS = 20_000
"""How many digits a ``Decimal`` may have to cross (about as many as a ``Fraction`` of ``FRACTION_BITS``)."""


def isIntIn(value: Any, low: int, high: int) -> bool:
    """Whether ``value`` is an exact ``int`` from ``low`` to ``high``."""
    return type(value) is int and low <= value <= high


@dataclasses.dataclass(frozen=True)
class Rule:
    """How one standard type travels: what its encoder sends, and the only shape its decoder accepts."""

    arguments: Callable[[Any], tuple[tuple[Any, ...], Any]]
    build: Callable[[type, tuple[Any, ...], Any], Any]


def _shape(name: str, args: tuple[Any, ...], *allowed: tuple[type, ...]) -> None:
    if len(args) != len(allowed) or not all(type(arg) in kinds for arg, kinds in zip(args, allowed, strict=True)):
        got = ", ".join(type(arg).__qualname__ for arg in args)
        raise DecodeError(f"malformed payload: a {name} is rebuilt from ({got}), which is not what it sends")


def _fractionArguments(value: fractions.Fraction) -> tuple[tuple[Any, ...], Any]:
    _checkFraction(value.numerator, value.denominator, UnsendableError)
    return (value.numerator, value.denominator), None


def _checkFraction(numerator: int, denominator: int, error: type[Exception]) -> None:
    if max(numerator.bit_length(), denominator.bit_length()) > FRACTION_BITS:
        raise error(f"a Fraction with more than FRACTION_BITS ({FRACTION_BITS}) bits in a part does not cross")


def _buildFraction(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    _shape("Fraction", args, (int,), (int,))
    _checkFraction(args[0], args[1], DecodeError)  # before the constructor's gcd, whose cost grows with the bits
    if args[1] <= 0:
        raise DecodeError("malformed payload: a Fraction's denominator must be positive")
    return fractions.Fraction(args[0], args[1])


def _decimalArguments(value: decimal.Decimal) -> tuple[tuple[Any, ...], Any]:
    _checkDecimal(value, UnsendableError)
    return (str(value),), None


def _checkDecimal(value: decimal.Decimal, error: type[Exception]) -> None:
    if value.is_finite() and abs(value.adjusted()) > DECIMAL_EXPONENT:
        raise error(f"a Decimal whose exponent is beyond DECIMAL_EXPONENT ({DECIMAL_EXPONENT}) does not cross")
    if len(value.as_tuple().digits) > DECIMAL_DIGITS:
        raise error(f"a Decimal of more than DECIMAL_DIGITS ({DECIMAL_DIGITS}) digits does not cross")


_DECIMAL_SPELLING = 32
"""How many characters ``str(Decimal)`` spends besides the digits, at most: a sign, a point, up to six zeros after it,
"E+" and an exponent, with room to spare."""


def _buildDecimal(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    _shape("Decimal", args, (str,))
    # The text's length bounds the digits before parsing, and the parser is linear: then the exponent is checked on
    # what came out (spelled in the text, it could be written in many ways).
    if len(args[0]) > DECIMAL_DIGITS + _DECIMAL_SPELLING:
        raise DecodeError(f"a Decimal of more than DECIMAL_DIGITS ({DECIMAL_DIGITS}) digits does not cross")
    value = decimal.Decimal(args[0])
    _checkDecimal(value, DecodeError)
    return value


def _buildUuid(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    _shape("UUID", args)
    if not isinstance(state, dict) or set(state) - {"int", "is_safe"} or type(state.get("int")) is not int:
        raise DecodeError("malformed payload: a UUID travels as its 128-bit int")
    safe = state.get("is_safe", uuid.SafeUUID.unknown)
    if not isinstance(safe, uuid.SafeUUID):
        raise DecodeError("malformed payload: a UUID's is_safe must be a SafeUUID")
    return uuid.UUID(int=state["int"], is_safe=safe)


def _reduced(value: Any) -> tuple[tuple[Any, ...], Any]:
    reduced = value.__reduce_ex__(5)
    return tuple(reduced[1]) if reduced[0] is type(value) else tuple(reduced[1][1:]), (
        reduced[2] if len(reduced) > 2 else None
    )


def _calling(*shapes: tuple[tuple[type, ...], ...]) -> Callable[[type, tuple[Any, ...], Any], Any]:
    """A build that calls the (C-implemented, standard) class with arguments of one of ``shapes``."""

    def build(cls: type, args: tuple[Any, ...], state: Any) -> Any:
        problems = []
        for shape in shapes:
            try:
                _shape(cls.__qualname__, args, *shape)
                break
            except DecodeError as problem:
                problems.append(problem)
        else:
            raise problems[0]
        if state is not None:
            raise DecodeError(f"malformed payload: a {cls.__qualname__} takes no state")
        return cls(*args)

    return build


# Dates and times travel as their fields, not as the packed bytes of their own pickling: built from bytes, the C
# constructor checks only the month (datetime(65535, 12, 255, 255, 255, 255, 16777215) decodes), while built from
# fields it checks every one. The fold goes last, by keyword.
def _dateTimeBuild(fields: int, timezoned: bool) -> Callable[[type, tuple[Any, ...], Any], Any]:
    """A build from ``fields`` ints, then (``timezoned``) a ``timezone`` or None and the fold, 0 or 1."""
    shape = ((int,),) * fields + (((datetime.timezone, type(None)), (int,)) if timezoned else ())

    def build(cls: type, args: tuple[Any, ...], state: Any) -> Any:
        _shape(cls.__qualname__, args, *shape)
        if state is not None:
            raise DecodeError(f"malformed payload: a {cls.__qualname__} takes no state")
        return cls(*args[:-1], fold=args[-1]) if timezoned else cls(*args)

    return build


def _buildTimedelta(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    # The normalized fields timedelta keeps, each in its range: the constructor would accept any ints and spend
    # time proportional to their size normalizing them.
    _shape("timedelta", args, (int,), (int,), (int,))
    days, seconds, microseconds = args
    if not (isIntIn(days, -999_999_999, 999_999_999) and isIntIn(seconds, 0, 86_399)):
        raise DecodeError("malformed payload: a timedelta's days or seconds are out of range")
    if not isIntIn(microseconds, 0, 999_999) or state is not None:
        raise DecodeError("malformed payload: a timedelta's microseconds are out of range, or it came with state")
    return datetime.timedelta(days, seconds, microseconds)


def _dateArguments(value: datetime.date) -> tuple[tuple[Any, ...], Any]:
    return (value.year, value.month, value.day), None


def _timeArguments(value: datetime.time) -> tuple[tuple[Any, ...], Any]:
    return (value.hour, value.minute, value.second, value.microsecond, value.tzinfo, value.fold), None


def _dateTimeArguments(value: datetime.datetime) -> tuple[tuple[Any, ...], Any]:
    date = (value.year, value.month, value.day)
    return (*date, value.hour, value.minute, value.second, value.microsecond, value.tzinfo, value.fold), None


def _pathRule() -> Rule:
    return Rule(lambda value: ((str(value),), None), _calling(((str,),)))


@dataclasses.dataclass(frozen=True)
class Kind:
    """One type that crosses as it is, and what both sides need to know of it."""

    type: type
    level: bool = False
    """Whether it is a level of depth (one more than what it holds, or 1 for a standard object) or a scalar (0)."""
    native: bool = False
    """Whether the pickler writes exact instances itself (its fast path): no reducer, and no adapter, sees one."""
    aimedHash: bool = False
    """Whether a sender can choose instances whose hashes collide (numbers hash by value; a tuple's hash can be
    inverted): as keys the screen works their hashes out, or charges for every comparison they could cost."""
    rule: Rule | None = None
    """For a standard value type: how it travels and the only shape it is rebuilt from."""


KINDS: tuple[Kind, ...] = (
    Kind(type(None), native=True),
    Kind(bool, native=True),
    Kind(int, native=True, aimedHash=True),
    Kind(float, native=True, aimedHash=True),
    Kind(str, native=True),
    Kind(bytes, native=True, rule=Rule(lambda value: ((bytes(value),), None), _calling(((bytes,),)))),
    Kind(bytearray, native=True),
    Kind(list, level=True, native=True),
    Kind(tuple, level=True, native=True, aimedHash=True),
    Kind(dict, level=True, native=True),
    Kind(set, level=True, native=True),
    Kind(frozenset, level=True, native=True, aimedHash=True),
    Kind(
        complex,
        aimedHash=True,
        rule=Rule(lambda value: ((value.real, value.imag), None), _calling(((float,), (float,)))),
    ),
    Kind(fractions.Fraction, level=True, aimedHash=True, rule=Rule(_fractionArguments, _buildFraction)),
    Kind(decimal.Decimal, level=True, aimedHash=True, rule=Rule(_decimalArguments, _buildDecimal)),
    Kind(
        uuid.UUID,
        level=True,
        aimedHash=True,
        rule=Rule(lambda value: ((), {"int": value.int, "is_safe": value.is_safe}), _buildUuid),
    ),
    Kind(uuid.SafeUUID, level=True),  # an Enum: crosses as a member, by value
    Kind(datetime.date, level=True, rule=Rule(_dateArguments, _dateTimeBuild(3, timezoned=False))),
    Kind(datetime.time, level=True, rule=Rule(_timeArguments, _dateTimeBuild(4, timezoned=True))),
    Kind(datetime.datetime, level=True, rule=Rule(_dateTimeArguments, _dateTimeBuild(7, timezoned=True))),
    Kind(datetime.timedelta, level=True, rule=Rule(_reduced, _buildTimedelta)),
    Kind(
        datetime.timezone,
        level=True,
        rule=Rule(_reduced, _calling(((datetime.timedelta,),), ((datetime.timedelta,), (str,)))),
    ),
    Kind(pathlib.PurePath, level=True, rule=_pathRule()),
    Kind(pathlib.PurePosixPath, level=True, rule=_pathRule()),
    Kind(pathlib.PureWindowsPath, level=True, rule=_pathRule()),
    Kind(pathlib.Path, level=True, rule=_pathRule()),
    Kind(pathlib.PosixPath, level=True, rule=_pathRule()),
    Kind(pathlib.WindowsPath, level=True, rule=_pathRule()),
)
"""Every type that crosses as it is."""

CROSSING: frozenset[type] = frozenset(kind.type for kind in KINDS)
"""The types of :data:`KINDS`."""

NATIVE_TYPES: frozenset[type] = frozenset(kind.type for kind in KINDS if kind.native)
"""Exact types the pickler always handles itself: an adapter for them could never run, so registering one fails."""

SCALARS: frozenset[type] = frozenset(kind.type for kind in KINDS if not kind.level)
"""Types that hold no other values: depth 0."""

STANDARD_RULES: dict[type, Rule] = {kind.type: kind.rule for kind in KINDS if kind.rule is not None}
"""How each standard value type travels and is rebuilt (see :mod:`~workerlib.rebuild`)."""

BY_NAME: dict[tuple[str, str], Kind] = {(kind.type.__module__, kind.type.__qualname__): kind for kind in KINDS}
"""The kinds by the ``(module, qualname)`` a payload names them by: how the screen knows what a construction makes."""

# Looked up by identity: hashing a class a payload named would run its metaclass's __hash__, if it has one. (These
# classes live as long as the interpreter, so their ids stay theirs.)
_LISTED = frozenset(map(id, CROSSING))

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
