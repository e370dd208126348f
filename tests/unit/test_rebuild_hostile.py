"""Issue 20, item 4: rebuilding never bypasses a type's own checks. One test (or a small group) per finding.

Each attack goes to :mod:`workerlib.rebuild` directly (``construct``, ``giveState``, ``member``, ``findClass``), and
where the codec shows it too, as a payload: the encoder's own output for an honest value with one value or name
swapped for another of the same length, so everything but the swapped bytes is what the encoder writes.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from workerlib import codec, kinds, rebuild
from workerlib.errors import DecodeError, UnsendableError

CALLS: list[str] = []
"""What the hostile objects below were asked: class lookup must ask them nothing."""


@dataclasses.dataclass
class Point:
    x: Any
    y: Any = 0

    def greet(self) -> str:
        return "hello"

    @property
    def norm(self) -> Any:
        return abs(self.x) + abs(self.y)


@dataclasses.dataclass(slots=True)
class Slotted:
    first: Any
    second: Any = None


class Pair(NamedTuple):
    left: Any
    right: Any


def swapped(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with the one occurrence of ``old`` replaced by ``new``, of the same length: opcodes, memo and frame
    lengths stay exactly as the encoder wrote them."""
    assert len(old) == len(new)
    assert data.count(old) == 1, (old, data)
    return data.replace(old, new)


def short(text: str) -> bytes:
    """The SHORT_BINUNICODE opcode pushing ``text``."""
    return b"\x8c" + bytes([len(text)]) + text.encode()


def roundTrip(value: Any) -> Any:
    return codec.decode(codec.encode(value))


# ---- 1. C-level fields of built-in exceptions ------------------------------------------------------------------------


def test_a_unicode_error_position_outside_its_object_is_refused_in_a_child() -> None:
    # The crash: printing the error reads its object at start. Decoded in a child interpreter, so a regression
    # fails the test instead of killing the run.
    error = UnicodeDecodeError("utf-8", b"ab", 0, 1, "bad")
    error.zzzzz = -(2**40)  # type: ignore[attr-defined]
    crafted = swapped(codec.encode(error), short("zzzzz"), short("start"))
    script = textwrap.dedent(
        """
        import sys
        from workerlib import codec
        try:
            print(codec.decode(sys.stdin.buffer.read()))
        except codec.DecodeError:
            print("DecodeError")
        """
    )
    child = subprocess.run([sys.executable, "-c", script], input=crafted, capture_output=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr.decode()
    assert child.stdout.strip() == b"DecodeError"


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (UnicodeDecodeError, ("utf-8", b"ab", -(2**40), -(2**40) + 1, "bad")),  # crashes when printed
        (UnicodeDecodeError, ("utf-8", b"ab", 1, 3, "bad")),  # end past the object
        (UnicodeDecodeError, ("utf-8", b"ab", 2, 1, "bad")),  # start after end
        (UnicodeDecodeError, ("utf-8", "ab", 0, 1, "bad")),  # a str where bytes were decoded
        (UnicodeEncodeError, ("utf-8", "ab", 5, 6, "bad")),
        (UnicodeTranslateError, ("ab", -1, 0, "bad")),
        (SyntaxError, ("bad", ("f.py", 1, 1, "", 1, 10**9))),  # a caret per column when printed: a GB from 30 bytes
        (SyntaxError, ("bad", ("f.py", "one", 1, "x = (", 1, 2))),
        (OSError, ("two", "no such file")),
        (ExceptionGroup, ("group", ["not an exception"])),
    ],
)
def test_built_in_exception_fields_come_only_from_checked_arguments(cls: type, args: tuple[Any, ...]) -> None:
    with pytest.raises(DecodeError, match="from its args"):
        rebuild.construct(cls, args, None)


@pytest.mark.parametrize(
    ("cls", "args", "state"),
    [
        (UnicodeDecodeError, ("utf-8", b"ab", 0, 1, "bad"), {"start": -(2**40)}),
        (UnicodeEncodeError, ("utf-8", "ab", 0, 1, "bad"), {"object": "", "end": 2**62}),
        (OSError, (2, "no such file"), {"errno": "two"}),
        (BlockingIOError, (11, "busy", 3), {"characters_written": -5}),
        (SyntaxError, ("bad", ("f.py", 1, 1, "x", 1, 2)), {"lineno": "one"}),
        (StopIteration, (1,), {"value": 2}),
        (SystemExit, (0,), {"code": 1}),
        (ExceptionGroup, ("group", [ValueError()]), {"exceptions": ()}),
        (ValueError, ("bad",), {"args": ("other",)}),
        (ValueError, ("bad",), {"__traceback__": None}),
        (ValueError, ("bad",), {"__cause__": None}),
        (ValueError, ("bad",), {"__dict__": {}}),
        (ImportError, ("bad",), {"name": 5}),
        (ImportError, ("bad",), {"name_from": "x"}),
        (AttributeError, ("bad",), {"obj": 5}),
        (ValueError, ("bad",), {"__notes__": "not a list"}),  # the caller's add_note would fail with a TypeError
        (ValueError, ("bad",), {"__notes__": ["fine", 5]}),
    ],
)
def test_state_never_writes_a_built_in_field(cls: type, args: tuple[Any, ...], state: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        rebuild.construct(cls, args, state)
    made = rebuild.construct(cls, args, None)
    with pytest.raises(DecodeError):
        rebuild.giveState(made, state)


def test_every_built_in_exception_with_fields_of_its_own_has_its_row_in_the_table() -> None:
    for value in vars(builtins).values():
        if isinstance(value, type) and issubclass(value, BaseException):
            fields = [
                name
                for name, attribute in vars(value).items()
                if type(attribute) in (types.MemberDescriptorType, types.GetSetDescriptorType)
                and not name.startswith("__")
            ]
            if fields:
                assert value in rebuild._BUILTIN_EXCEPTIONS, f"{value.__name__} keeps {fields}"


def test_honest_built_in_exceptions_keep_their_fields() -> None:
    try:
        b"\xffab".decode("utf-8")
    except UnicodeDecodeError as raised:
        decodeError = raised
    decoded = roundTrip(decodeError)
    assert (decoded.start, decoded.end, decoded.object, str(decoded)) == (0, 1, b"\xffab", str(decodeError))

    try:
        compile("x = (", "f.py", "exec")
    except SyntaxError as raised:
        syntaxError = raised
    decoded = roundTrip(syntaxError)
    assert (decoded.lineno, decoded.offset, decoded.text, decoded.end_offset) == (1, 5, "x = (\n", 0)

    missing = roundTrip(FileNotFoundError(2, "No such file or directory", "a.txt", None, "b.txt"))
    assert type(missing) is FileNotFoundError
    assert (missing.errno, missing.filename, missing.filename2) == (2, "a.txt", "b.txt")
    assert missing.args == (2, "No such file or directory")

    imported = ImportError("no module", name="mod", path="/mod.py")
    imported.extra = [1, 2]  # type: ignore[attr-defined]  # not a scalar: the state travels apart, through _fill
    decoded = roundTrip(imported)
    assert (decoded.name, decoded.path, decoded.msg, decoded.args) == ("mod", "/mod.py", "no module", ("no module",))
    assert decoded.extra == [1, 2]
    assert roundTrip(AttributeError("no x", name="x")).name == "x"
    assert roundTrip(NameError("no y", name="y")).name == "y"
    assert roundTrip(StopIteration(7)).value == 7

    noted = ValueError("bad")
    noted.add_note("first")
    noted.add_note("second")
    decoded = roundTrip(noted)
    assert decoded.__notes__ == ["first", "second"]
    decoded.add_note("third")  # as the caller does, with the worker's traceback

    group = roundTrip(ExceptionGroup("two", [ValueError(1), KeyError(2)]))
    assert type(group) is ExceptionGroup
    assert [type(item) for item in group.exceptions] == [ValueError, KeyError]


# ---- 2. state names only instance attributes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        {"__dict__": {"greet": "shadowed"}},
        {"__dict__": {1: 2}},
        {"__class__": "Slotted"},
        {"__weird__": 1},
        {"not an identifier": 1},
        {"": 1},
        {"greet": "a method shadowed"},
        {"norm": "a property's value"},
        {1: "a non-str name"},
    ],
)
def test_state_names_only_instance_attributes(state: dict[Any, Any]) -> None:
    with pytest.raises(DecodeError):
        rebuild.construct(Point, (), state)
    with pytest.raises(DecodeError):
        rebuild.giveState(rebuild.construct(Point, (), None), state)


def test_a_payload_cannot_replace_an_instance_dict() -> None:
    point = Point(1, 2)
    point.aaaaaaaa = {"greet": "shadowed"}  # type: ignore[attr-defined]
    crafted = swapped(codec.encode(point), short("aaaaaaaa"), short("__dict__"))
    with pytest.raises(DecodeError):
        codec.decode(crafted)


def test_honest_state_still_arrives() -> None:
    point = rebuild.construct(Point, (), {"x": 1, "y": [2], "extra": 3})
    assert (point.x, point.y, point.extra, point.greet()) == (1, [2], 3, "hello")
    slotted = rebuild.construct(Slotted, (), {"first": 1, "second": 2})
    assert (slotted.first, slotted.second) == (1, 2)
    with pytest.raises(DecodeError):  # a slotted dataclass has nowhere else to put a name
        rebuild.construct(Slotted, (), {"third": 3})
    with pytest.raises(DecodeError):  # a NamedTuple's fields are its tuple's items, not attributes
        rebuild.construct(Pair, (1, 2), {"left": 3})
    values = [Point(1.5, "y"), Slotted(1, Point(2)), Pair(1, 2)]
    assert roundTrip(values) == values


# ---- 3. naming a class asks nothing of what it finds -----------------------------------------------------------------


class Recording(type):
    """A metaclass that records every question the lookup could ask a class through it."""

    def __getattr__(cls, name: str) -> Any:
        CALLS.append(f"__getattr__ {name}")
        raise AttributeError(name)

    def __getattribute__(cls, name: str) -> Any:
        CALLS.append(f"__getattribute__ {name}")
        return super().__getattribute__(name)

    def __instancecheck__(cls, instance: Any) -> bool:
        CALLS.append("__instancecheck__")
        return False

    def __subclasscheck__(cls, subclass: Any) -> bool:
        CALLS.append("__subclasscheck__")
        return False

    def __hash__(cls) -> int:
        CALLS.append("__hash__")
        return id(cls)

    def __eq__(cls, other: object) -> bool:
        CALLS.append("__eq__")
        return cls is other


class Outer(metaclass=Recording):
    @dataclasses.dataclass
    class Inner:
        value: int = 0


class Watched(metaclass=Recording):
    """Made a dataclass below (its metaclass is asked things then, before any test records)."""

    value: int = 0


Watched = dataclasses.dataclass(Watched)  # type: ignore[misc]
INNER = Outer.Inner  # asked here, before any test records


class Proxy:
    """What a module can put in ``sys.modules`` in its own place: every attribute asked of it is recorded."""

    def __getattribute__(self, name: str) -> Any:
        CALLS.append(f"proxy {name}")
        return object.__getattribute__(self, name)


class LazyModule(types.ModuleType):
    def __getattribute__(self, name: str) -> Any:
        CALLS.append(f"lazy module {name}")
        return super().__getattribute__(name)


def moduleGetattr(name: str) -> Any:
    CALLS.append(f"module __getattr__ {name}")
    raise AttributeError(name)


@pytest.fixture
def hostileModules() -> Iterator[None]:
    plain = types.ModuleType("workerlib_test_plain")
    plain.__getattr__ = moduleGetattr  # type: ignore[method-assign]
    plain.Point = Point  # type: ignore[attr-defined]
    lazy = LazyModule("workerlib_test_lazy")
    lazy.Point = Point  # type: ignore[attr-defined]
    modules: dict[str, Any] = {"workerlib_test_plain": plain, "workerlib_test_lazy": lazy}
    modules["workerlib_test_proxy"] = Proxy()
    sys.modules.update(modules)
    CALLS.clear()
    yield
    for name in modules:
        del sys.modules[name]


@pytest.mark.usefixtures("hostileModules")
def test_naming_a_class_asks_nothing_of_proxies_modules_or_metaclasses() -> None:
    assert rebuild.findClass(__name__, "Outer.Inner") is INNER
    assert rebuild.findClass(__name__, "Watched") is Watched
    assert rebuild.findClass("workerlib_test_plain", "Point") is Point
    for module, qualname, message in [
        ("workerlib_test_proxy", "Point", "has no 'Point'"),
        ("workerlib_test_lazy", "Point", "has no 'Point'"),
        ("workerlib_test_plain", "Missing", "has no 'Missing'"),
        (__name__, "Outer.missing", "has no 'Outer.missing'"),
        (__name__, "Outer", "refusing to rebuild"),
        (__name__, "Recording", "refusing to rebuild"),
        (__name__, "Outer.Inner.value", "refusing to rebuild"),  # an int: found, and not a class
        (__name__, "roundTrip.__globals__", "has no"),  # a function is not walked through
        (__name__, "Point.greet", "refusing to rebuild"),
    ]:
        with pytest.raises(DecodeError, match=message):
            rebuild.findClass(module, qualname)
    assert CALLS == []


def test_naming_a_class_keeps_the_codec_messages() -> None:
    with pytest.raises(DecodeError, match="module 'antigravity' is not imported on this side"):
        rebuild.findClass("antigravity", "fly")
    with pytest.raises(DecodeError, match="malformed payload: a class named by"):
        rebuild.findClass(b"os", "path")
    with pytest.raises(DecodeError, match=r"refusing to rebuild os\.system"):
        rebuild.findClass("os", "system")
    assert rebuild.findClass("datetime", "datetime") is datetime.datetime
    assert rebuild.findClass("builtins", "ValueError") is ValueError
    assert rebuild.findClass(__name__, "Pair") is Pair


# ---- 4. no payload grows a class's caches ----------------------------------------------------------------------------


def wideFlag() -> Any:
    """A Flag of 16 bits: 65,536 combinations (made by a call, which mypy leaves alone when it is returned)."""
    return enum.Flag("Wide", [f"F{bit}" for bit in range(16)], module=__name__)


Wide = wideFlag()


def test_flag_combinations_are_made_without_growing_the_class_cache() -> None:
    members, values = dict(Wide._member_map_), dict(Wide._value2member_map_)
    for value in range(1, 50_000, 7):
        made = rebuild.member(Wide, value)
        assert made.value == value
        assert isinstance(made, Wide)
    high = Wide.F15.value  # the encoder's own payload for a member, its value swapped for a combination
    old, new = b"M" + high.to_bytes(2, "little"), b"M" + (high | 5).to_bytes(2, "little")  # BININT2 of each
    combination = codec.decode(swapped(codec.encode(Wide.F15), old, new))
    assert combination.value == high | 5
    assert Wide.F0 in combination
    assert Wide.F2 in combination
    assert dict(Wide._member_map_) == members
    assert dict(Wide._value2member_map_) == values
    made = Wide.F1 | Wide.F3  # a combination the program made, and so cached: the very same one arrives
    assert rebuild.member(Wide, made.value) is made
    with pytest.raises(DecodeError):
        rebuild.member(Wide, 1 << 16)


class Small(enum.Flag):
    """A Flag of 3 bits: its 8 combinations bound its own cache."""

    R = 1
    W = 2
    X = 4


def test_a_small_flag_keeps_a_received_combination_so_it_is_the_one_the_program_makes() -> None:
    value = (Small.R | Small.X).value  # made, then dropped from the cache, as a payload arriving first would find it
    del Small._value2member_map_[value]
    received = rebuild.member(Small, value)
    assert received is Small.R | Small.X  # a plain Flag compares by identity: the same object, or not equal
    assert received == Small.R | Small.X


# ---- 5. no cache keyed by payload strings ----------------------------------------------------------------------------


def test_no_cache_keeps_the_names_a_payload_sent() -> None:
    # Refused names (a slotted dataclass has no __dict__ to put them in): a name set on an instance may stay in the
    # keys CPython shares between a class's instances, which is why names are short (the next test).
    names = ["name" + "x" * 200 + str(number) for number in range(50)]
    before = [sys.getrefcount(name) for name in names]
    for name in names:
        with pytest.raises(DecodeError):
            rebuild.construct(Slotted, (), {name: 2})
    del name  # the loop's own reference
    assert [sys.getrefcount(name) for name in names] == before
    for name in names:
        rebuild.construct(Point, (), {"x": 1, name: 2})
    for cached in vars(rebuild).values():
        if isinstance(cached, functools._lru_cache_wrapper):
            assert cached.cache_info().currsize < 50, f"{cached.__name__} keeps one entry per name"


def test_state_names_are_short() -> None:
    point = rebuild.construct(Point, (), {"a" * rebuild.NAME_LENGTH: 1})
    assert vars(point) == {"a" * rebuild.NAME_LENGTH: 1}
    with pytest.raises(DecodeError):
        rebuild.construct(Point, (), {"a" * (rebuild.NAME_LENGTH + 1): 1})


# ---- 6. standard types are built from checked fields -----------------------------------------------------------------


def test_datetime_fields_out_of_range_are_refused() -> None:
    packed = bytes([255, 255, 12, 255, 255, 255, 255, 255, 255, 255])  # as datetime's own pickling packs fields
    attempts: list[tuple[Any, ...]] = [(packed,), (packed, None), (65535, 12, 255, 255, 255, 255, 16777215, None, 0)]
    for args in attempts:
        with pytest.raises(DecodeError):
            rebuild.construct(datetime.datetime, args, None)
    honest = codec.encode(datetime.datetime(2026, 12, 30, 23, 59, 58))
    for old, new in [(b"K\x1e", b"K\xff"), (b"K\x17", b"K\x18"), (b"K\x00t", b"K\x02t")]:  # day 255, hour 24, fold 2
        with pytest.raises(DecodeError):
            codec.decode(swapped(honest, old, new))
    wrong: list[tuple[type, tuple[Any, ...]]] = [
        (datetime.date, (2026, 2, 30)),
        (datetime.date, (bytes([7, 234, 2, 30]),)),
        (datetime.time, (24, 0, 0, 0, None, 0)),
        (datetime.time, (bytes([255, 0, 0, 0, 0, 0]),)),
        (datetime.timedelta, (0, 86_400, 0)),  # not normalized
        (datetime.timedelta, (10**100_000, 0, 0)),
        (datetime.timedelta, (0, 0, -1)),
        (datetime.timezone, (datetime.timedelta(hours=24),)),
    ]
    for cls, args in wrong:
        with pytest.raises(DecodeError):
            rebuild.construct(cls, args, None)


def test_honest_dates_and_times_round_trip() -> None:
    zone = datetime.timezone(datetime.timedelta(hours=-3, minutes=-30), "somewhere")
    values = [
        datetime.datetime.min,
        datetime.datetime.max,
        datetime.datetime(2026, 11, 1, 1, 30, fold=1),
        datetime.datetime(2026, 11, 1, 1, 30, 0, 5, tzinfo=zone),
        datetime.date(2024, 2, 29),
        datetime.time(23, 59, 59, 999_999, tzinfo=datetime.UTC, fold=1),
        datetime.timedelta.min,
        datetime.timedelta.max,
        datetime.timedelta(days=-1, microseconds=3),
        zone,
    ]
    decoded = roundTrip(values)
    assert decoded == values
    assert [getattr(value, "fold", None) for value in decoded] == [getattr(value, "fold", None) for value in values]


def test_decimal_digits_are_bounded_before_parsing() -> None:
    largest = decimal.Decimal("9" * kinds.DECIMAL_DIGITS + "e-5")
    assert roundTrip(largest) == largest
    with pytest.raises(UnsendableError):
        codec.encode(decimal.Decimal("9" * (kinds.DECIMAL_DIGITS + 1)))
    for text in ["9" * (kinds.DECIMAL_DIGITS + 1), "0" * 1_000_000 + "1", "NaN" + "1" * (kinds.DECIMAL_DIGITS + 1)]:
        with pytest.raises(DecodeError):
            rebuild.construct(decimal.Decimal, (text,), None)


def test_fraction_bits_are_bounded_before_the_gcd() -> None:
    with pytest.raises(DecodeError):
        rebuild.construct(fractions.Fraction, (1 << (kinds.FRACTION_BITS + 1), 3), None)
    with pytest.raises(DecodeError):
        rebuild.construct(fractions.Fraction, (3, 0), None)
    assert rebuild.construct(fractions.Fraction, (6, 4), None) == fractions.Fraction(3, 2)
