"""Imported by the main thread and by the worker of the values pages: the classes that cross, their adapters, the
catalog of values every test sends, and the exact comparison both sides use.

``SIDE`` is set by each side's script ("main" or "worker"), so adapters can stamp where they ran; ``CALLS`` counts the
adapter functions that ran on this side, which is how a page proves an adapter (and not native handling) carried a
value.
"""

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import math
import os
import pathlib
import struct
import uuid
import warnings
from typing import Any, NamedTuple

import workerlib
from workerlib import WorkerService, adapter

SIDE = "?"
CALLS = collections.Counter()


def count(name):
    CALLS[name] += 1


# ---- classes that cross natively ---------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1
    GREEN = "green"
    BLUE = (0, 0, 255)


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2**40


class Permission(enum.Flag):
    READ = 1
    WRITE = 2
    EXECUTE = 4


class Mode(enum.StrEnum):
    FAST = "fast"
    SAFE = "safe"


@dataclasses.dataclass
class Point:
    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class Label:
    text: str
    size: int = 12


@dataclasses.dataclass
class Drawing:
    name: str
    points: list
    color: Color
    labels: dict = dataclasses.field(default_factory=dict)
    revision: int = dataclasses.field(init=False, default=7)


class Pair(NamedTuple):
    left: Any
    right: Any = "default"


class Span(NamedTuple):
    start: Pair
    end: Pair
    note: Label


class Opaque:
    """No adapter: must be refused before anything is sent."""


# ---- adapted classes (sync adapters; the async ones are in values_async) -------------------------------------------


class Vector:
    """Adapted with plain functions; hashable, so it may be a dict key or a set member."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Vector and (other.x, other.y) == (self.x, self.y)

    def __hash__(self):
        return hash((Vector, self.x, self.y))

    def __repr__(self):
        return f"Vector({self.x!r}, {self.y!r})"


def encodeVector(vector):
    count("Vector.encode")
    return (vector.x, vector.y)


def decodeVector(data):
    count("Vector.decode")
    return Vector(*data)


adapter(Vector, encode=encodeVector, decode=decodeVector)


class Segment:
    """Its adapter's output holds Vectors and a Point: adapters apply inside another adapter's output."""

    def __init__(self, start, end, via):
        self.start, self.end, self.via = start, end, via

    def __eq__(self, other):
        return type(other) is Segment and (other.start, other.end, other.via) == (self.start, self.end, self.via)

    def __repr__(self):
        return f"Segment({self.start!r}, {self.end!r}, {self.via!r})"


@adapter(Segment)
class SegmentAdapter:
    # Plain functions in the class body, no @staticmethod: the spec allows either.
    def encode(segment):
        count("Segment.encode")
        return {"ends": (segment.start, segment.end), "via": segment.via}

    def decode(data):
        count("Segment.decode")
        return Segment(*data["ends"], data["via"])


@dataclasses.dataclass
class Stamp:
    """A dataclass, which would cross natively: its adapter must take precedence."""

    value: int


@adapter(Stamp)
class StampAdapter:
    @staticmethod
    def encode(stamp):
        count("Stamp.encode")
        return ["stamp", stamp.value]

    @staticmethod
    def decode(data):
        count("Stamp.decode")
        return Stamp(data[1])


class Mood(enum.Enum):
    """An Enum, which would cross natively: its adapter must take precedence."""

    HAPPY = 1
    GRUMPY = 2


def encodeMood(mood):
    count("Mood.encode")
    return mood.name


adapter(Mood, encode=encodeMood, decode=lambda name: Mood[name])


class UserId(int):
    """A subclass of int: crosses only through its adapter, whose decode defaults to UserId itself."""


adapter(UserId, encode=int)


class Tag(str):
    """A subclass of str with an adapter."""


@adapter(Tag)
class TagAdapter:
    @staticmethod
    def encode(tag):
        count("Tag.encode")
        return str(tag)

    @staticmethod
    def decode(text):
        count("Tag.decode")
        return Tag(text)


@dataclasses.dataclass
class Checked:
    """Crosses natively; its adapter has no encode, and its decode records on which side it arrived."""

    value: int
    hops: tuple = ()


def arrived(checked):
    count("Checked.decode")
    return Checked(checked.value, (*checked.hops, SIDE))


adapter(Checked, decode=arrived)


class Celsius:
    """Registered with encode only: decode defaults to the class, Celsius(degrees)."""

    def __init__(self, degrees):
        self.degrees = degrees

    def __eq__(self, other):
        return type(other) is Celsius and other.degrees == self.degrees

    def __repr__(self):
        return f"Celsius({self.degrees!r})"


adapter(Celsius, encode=lambda celsius: celsius.degrees)


class Shape:
    def __init__(self, size):
        self.size = size

    def __repr__(self):
        return f"{type(self).__name__}({self.size!r})"


class Circle(Shape):
    pass


class Square(Shape):
    pass


# Registration order decides: Circle's adapter first, then Shape's, which catches every other Shape (Square too).
adapter(Circle, encode=lambda circle: circle.size, decode=lambda size: Circle(size))
adapter(Shape, encode=lambda shape: shape.size, decode=Shape)


class Animal:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class Dog(Animal):
    pass


adapter(Animal, encode=lambda animal: animal.name, decode=Animal)
with warnings.catch_warnings(record=True) as _caught:
    warnings.simplefilter("always")
    adapter(Dog, encode=lambda dog: dog.name, decode=Dog)  # shadowed: Animal's adapter already catches every Dog
SHADOW_WARNINGS = [
    {
        "category": caught.category.__name__,
        "isAdapterShadowedWarning": issubclass(caught.category, workerlib.AdapterShadowedWarning),
        "message": str(caught.message),
        "file": os.path.basename(caught.filename),
    }
    for caught in _caught
]


class Secret:
    """Importable on both sides, but only the worker registers its adapter (values_worker_only)."""

    def __init__(self, text):
        self.text = text


class Token:
    """Importable on both sides, but only the main thread registers its adapter (values_main_only)."""

    def __init__(self, text):
        self.text = text


# ---- the values every page sends --------------------------------------------------------------------------------

AWARE = datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST")
WEST = datetime.timezone(-datetime.timedelta(hours=3, minutes=15))


def catalog():
    """Every kind of value issue 4 lists, freshly built; both sides build equal copies."""
    return {
        "None": None,
        "bool-true": True,
        "bool-false": False,
        "int-zero": 0,
        "int-negative": -42,
        "int-beyond-2**53": 2**53 + 1,
        "int-negative-huge": -(2**300) - 7,
        "int-10**1000": 10**1000,
        "float": 1.5,
        "float-inf": math.inf,
        "float-negative-inf": -math.inf,
        "float-nan": math.nan,
        "float-negative-zero": -0.0,
        "float-subnormal": 5e-324,
        "complex": complex(1.5, -2.0),
        "complex-special": complex(math.nan, -0.0),
        "str-empty": "",
        "str-unicode": "naïve ☃ Ελληνικά 中文 😀 \U0001d11e \u200b\u2028 \ufeff",
        "str-nul": "\x00a\x00\x00b",
        "str-lone-surrogate": "\ud800 \udfff",
        "bytes": bytes(range(256)),
        "bytes-empty": b"",
        "bytearray": bytearray(b"\x00abc\xff"),
        "list": [1, "two", 3.0, None, [4]],
        "list-empty": [],
        "tuple": (1, ("nested",), ()),
        "tuple-empty": (),
        "set": {1, "a", (2, 3), None, b"x", 2.5, frozenset({4})},
        "set-empty": set(),
        "frozenset": frozenset({1, frozenset({2, "b"}), (3,)}),
        "frozenset-empty": frozenset(),
        "dict-key-order": {"b": 1, "a": 2, "c": 3, 10: 4, 2: 5},
        "dict-empty": {},
        "dict-hashable-keys": {
            None: "none",
            True: "bool",
            2: "int",
            2.5: "float",
            3j: "complex",
            "s": "str",
            b"b": "bytes",
            (1, "t"): "tuple",
            frozenset({1}): "frozenset",
            datetime.date(2026, 1, 2): "date",
            datetime.datetime(2026, 1, 2, 3, 4, tzinfo=AWARE): "datetime",
            datetime.time(5, 6): "time",
            datetime.timedelta(days=3): "timedelta",
            WEST: "timezone",
            decimal.Decimal("1.25"): "Decimal",
            fractions.Fraction(1, 3): "Fraction",
            uuid.UUID("12345678-1234-5678-1234-567812345678"): "UUID",
            pathlib.PurePosixPath("/etc/hosts"): "PurePath",
            Color.RED: "Enum",
            Pair(1, 2): "NamedTuple",
            Label("key"): "frozen dataclass",
        },
        "nested": {
            "records": [
                {"id": 1, "tags": {"a", "b"}, "pos": (1.0, -0.0), "when": datetime.date(2026, 3, 4)},
                {"id": 2, "tags": frozenset(), "pos": (math.inf, 2.5), "when": None},
            ],
            ("tuple", "key"): [bytearray(b"ab"), {b"k": [(), [], {}]}],
            "deep": [[[[[["bottom", {"x": (Pair([1], {2: 3}),)}]]]]]],
        },
        "datetime-naive": datetime.datetime(2026, 11, 21, 12, 30, 45, 123456),
        "datetime-aware": datetime.datetime(2026, 11, 21, 12, 30, tzinfo=AWARE),
        "datetime-utc": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
        "datetime-fold": datetime.datetime(2026, 10, 25, 1, 30, fold=1),
        "date": datetime.date(1969, 7, 20),
        "time-naive": datetime.time(23, 59, 59, 999999),
        "time-aware": datetime.time(8, 15, tzinfo=WEST),
        "timedelta": datetime.timedelta(days=1, seconds=2, microseconds=3),
        "timedelta-negative": datetime.timedelta(days=-1, microseconds=1),
        "timezone-utc": datetime.UTC,
        "timezone-offset": WEST,
        "timezone-named": AWARE,
        "decimal": decimal.Decimal("-12345678901234567890.0987654321"),
        "decimal-trailing-zero": decimal.Decimal("1.10"),
        "decimal-nan": decimal.Decimal("NaN"),
        "decimal-negative-infinity": decimal.Decimal("-Infinity"),
        "fraction": fractions.Fraction(-7, 3),
        "uuid": uuid.UUID("d1b2c3a4-0000-4000-8000-00000000beef"),
        "purepath-posix": pathlib.PurePosixPath("/home/user/file.txt"),
        "purepath-windows": pathlib.PureWindowsPath(r"C:\Users\Ann\File.TXT"),
        "purepath-relative": pathlib.PurePath("a/b/../c"),
        "enum": Color.BLUE,
        "enum-int": Priority.HIGH,
        "enum-flag": Permission.READ | Permission.EXECUTE,
        "enum-str": Mode.SAFE,
        "dataclass": Point(1.5, -2.0),
        "dataclass-frozen": Label("title", 20),
        "dataclass-nested": Drawing("d", [Point(0.0, 1.0), Point(2.0, 3.0)], Color.GREEN, {"pair": Pair(1, "x")}),
        "namedtuple": Pair(1, "x"),
        "namedtuple-default": Pair([1, 2]),
        "namedtuple-nested": Span(Pair(0, 1), Pair(2, 3), Label("span")),
    }


# ---- exact comparison --------------------------------------------------------------------------------------------


def _bits(number):
    return struct.pack("<d", number)


def difference(expected, actual, path="value", seen=None):
    """Where ``actual`` differs from ``expected`` in type or value (dict order included), or None for an exact copy.

    Floats compare bit for bit (NaN equals NaN, -0.0 is not 0.0), Decimals by digits and exponent, aware datetimes by
    their fields and zone, PureWindowsPaths case-sensitively. Cycles are followed once.
    """
    seen = set() if seen is None else seen
    if type(expected) is not type(actual):
        return f"{path}: got {type(actual).__qualname__} {actual!r:.80}, expected {type(expected).__qualname__}"
    pair = (id(expected), id(actual))
    if pair in seen:
        return None
    seen.add(pair)
    kind = type(expected)
    mismatch = f"{path}: got {actual!r:.120}, expected {expected!r:.120}"
    if kind is float:
        return None if _bits(expected) == _bits(actual) else mismatch
    if kind is complex:
        same = _bits(expected.real) + _bits(expected.imag) == _bits(actual.real) + _bits(actual.imag)
        return None if same else mismatch
    if kind is decimal.Decimal:
        return None if expected.as_tuple() == actual.as_tuple() else mismatch
    if isinstance(expected, enum.Enum):
        return None if expected is actual else mismatch
    if kind in (datetime.datetime, datetime.time):
        if expected.replace(tzinfo=None) != actual.replace(tzinfo=None) or expected.fold != actual.fold:
            return mismatch
        return difference(expected.tzinfo, actual.tzinfo, f"{path}.tzinfo", seen)
    if kind is datetime.timezone:
        return None if expected == actual and expected.tzname(None) == actual.tzname(None) else mismatch
    if kind is uuid.UUID:
        return None if expected == actual and expected.is_safe is actual.is_safe else mismatch
    if isinstance(expected, pathlib.PurePath):
        return None if str(expected) == str(actual) and expected == actual else mismatch
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(actual):
            return f"{path}: length {len(actual)}, expected {len(expected)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = difference(left, right, f"{path}[{index}]", seen)
            if found:
                return found
        return None
    if kind is dict:
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} keys, expected {len(expected)}"
        for index, ((leftKey, left), (rightKey, right)) in enumerate(
            zip(expected.items(), actual.items(), strict=True)
        ):
            found = difference(leftKey, rightKey, f"{path}.keys()[{index}]", seen) or difference(
                left, right, f"{path}[{leftKey!r:.40}]", seen
            )
            if found:
                return found
        return None
    if kind in (set, frozenset):
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} members, expected {len(expected)}"
        unmatched = list(actual)
        for member in expected:
            match = next((i for i, other in enumerate(unmatched) if difference(member, other, path) is None), None)
            if match is None:
                return f"{path}: no exact copy of {member!r:.80} in {actual!r:.120}"
            unmatched.pop(match)
        return None
    if dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            found = difference(getattr(expected, field.name), getattr(actual, field.name), f"{path}.{field.name}", seen)
            if found:
                return found
        return None
    if kind in (Shape, Circle, Square):
        return difference(expected.size, actual.size, f"{path}.size", seen)
    if kind in (Animal, Dog):
        return difference(expected.name, actual.name, f"{path}.name", seen)
    return None if expected == actual else mismatch


# ---- the service both pages call ---------------------------------------------------------------------------------


class ValueService(WorkerService):
    """The interface; the worker's ValueServiceImpl implements it."""

    def echo(self, value):
        """Return ``value`` as it arrived."""
        raise NotImplementedError

    def echoAll(self, *args, **kwargs):
        """Return ``(args, kwargs)`` as they arrived."""
        raise NotImplementedError

    def check(self, name, value, table="values"):
        """Compare what arrived with the worker's own copy of ``catalog()[name]``: {"type", "difference"}."""
        raise NotImplementedError

    def make(self, name, table="values"):
        """The worker's own copy of ``catalog()[name]``."""
        raise NotImplementedError

    def makeAll(self, table="values"):
        """The worker's whole catalog in one value."""
        raise NotImplementedError

    def typeNames(self, *args, **kwargs):
        """The exact type of each argument, as the worker sees it."""
        raise NotImplementedError

    def sharing(self, value):
        """Identity facts about the structures the page sends (see the worker)."""
        raise NotImplementedError

    def makeShared(self):
        raise NotImplementedError

    def hops(self, checked):
        raise NotImplementedError

    def calls(self):
        """The worker's adapter call counts."""
        raise NotImplementedError

    def shadowWarnings(self):
        raise NotImplementedError

    def received(self):
        """How many calls reached echo/echoAll/check."""
        raise NotImplementedError

    def makeSecret(self):
        """A Secret: only the worker has its adapter."""
        raise NotImplementedError

    def returnUnsendable(self):
        raise NotImplementedError

    def evidence(self):
        """What a crafted payload would have left behind in the worker, had it run code."""
        raise NotImplementedError

    def summarize(self, value):
        """Type, length and a digest of a large value, computed in the worker."""
        raise NotImplementedError

    def makeLarge(self, name):
        raise NotImplementedError


# ---- large data --------------------------------------------------------------------------------------------------

LARGE_NAMES = ("ints-1M", "bytes-10MB", "records-10k")


def sharedStructures():
    """Values whose parts refer to each other: the same list twice, cycles through a list, a dict and a dataclass, and
    one adapted object twice. Both sides build them the same way."""
    shared = [1]
    cycle = []
    cycle.append(cycle)
    record = {}
    record["self"] = record
    node = Point(0.0, None)
    node.y = node
    vector = Vector(1, 2)
    return {
        "pair": [shared, shared],
        "cycle": cycle,
        "dict-cycle": record,
        "dataclass-cycle": node,
        "adapted-pair": [vector, vector],
    }


def large(name):
    """One large value, built the same way on both sides."""
    if name == "ints-1M":
        return [(i * 2654435761) % 2**40 - 2**39 for i in range(1_000_000)]
    if name == "bytes-10MB":
        import random

        return random.Random(4).randbytes(10 * 1024 * 1024)
    if name == "records-10k":
        start = datetime.date(2026, 1, 1)
        return [
            {
                "id": i,
                "name": f"record {i}",
                "score": i / 7,
                "active": i % 2 == 0,
                "tags": ("a", "b", "c")[: i % 4],
                "when": start + datetime.timedelta(days=i % 365),
            }
            for i in range(10_000)
        ]
    raise KeyError(name)


def largeDifference(expected, actual):
    """``difference`` with a fast path for long lists of ints (a million recursive calls take too long)."""
    if type(expected) is list and expected and all(type(item) is int for item in expected):
        if type(actual) is not list or len(actual) != len(expected):
            return f"value: got {type(actual).__qualname__} of length {len(actual)}, expected list of {len(expected)}"
        if not all(type(item) is int for item in actual):
            return "value: an item is not exactly an int"
        return None if actual == expected else "value: the ints differ"
    return difference(expected, actual)
