"""Property-based round trips through the codec, and codec edge cases that ``test_codec.py`` leaves out.

Hypothesis generates nested values of every type issue 4 lists (values "cross intact"): each must come back equal and
of exactly the same type, recursively, dict key order included. The examples are derandomized, so every run (and CI)
sees the same ones. ``difference`` below is stricter than plain ``==``: floats compare bit for bit (NaN payload and the
sign of zero included), ``Decimal`` by its digits and exponent (``1.10`` is not ``1.1``), aware datetimes by their
fields and time zone rather than the instant, ``PureWindowsPath`` case-sensitively, ``UUID`` with ``is_safe``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import io
import math
import pathlib
import pickle
import struct
import sys
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workerlib
from workerlib import adapter, codec

# derandomize seeds each test from its strategies' repr, which is long for these nested ones: nothing to fix there.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

PROPERTIES = settings(
    derandomize=True,  # the same examples on every run: CI stays deterministic
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- classes importable on both sides (here: this module, found through sys.modules) ---------------------------------


class Color(enum.Enum):
    RED = 1
    GREEN = "green"
    BLUE = (0, 0, 255)
    CRIMSON = 1  # an alias of RED


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
    x: Any
    y: Any


@dataclasses.dataclass(frozen=True)
class Frozen:
    key: Any
    label: str = "frozen"


@dataclasses.dataclass(slots=True)
class Slotted:
    first: Any
    second: Any = None


@dataclasses.dataclass(kw_only=True)
class Extras:
    items: list[Any] = dataclasses.field(default_factory=list)
    computed: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.computed = len(self.items)


class Pair(NamedTuple):
    left: Any
    right: Any = "default"


class Opaque:
    """Nothing lets this cross."""


# ---- adapted classes: registered here, so both "sides" (this one process) have them --------------------------------


class Vector:
    """Hashable, adapted with plain functions: may be a dict key or a set member."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return type(other) is Vector and (other.x, other.y) == (self.x, self.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"Vector({self.x}, {self.y})"


class Box:
    """Holds any value; its adapter's output is that value, so adapters nest inside adapter output."""

    def __init__(self, content: Any) -> None:
        self.content = content

    def __repr__(self) -> str:
        return f"Box({self.content!r})"


adapter(Vector, encode=lambda vector: (vector.x, vector.y), decode=lambda data: Vector(*data))


@adapter(Box)
class BoxAdapter:
    @staticmethod
    def encode(box: Box) -> Any:
        return box.content

    @staticmethod
    def decode(content: Any) -> Box:
        return Box(content)


# ---- exact comparison --------------------------------------------------------------------------------------------


def floatBits(value: float) -> bytes:
    return struct.pack("<d", value)


def difference(expected: Any, actual: Any, path: str = "value", seen: set[tuple[int, int]] | None = None) -> str | None:
    """Where ``actual`` differs from ``expected`` (type, value, order), or None when it is an exact copy."""
    seen = set() if seen is None else seen
    if type(expected) is not type(actual):
        return f"{path}: {type(actual).__qualname__} {actual!r:.80}, expected {type(expected).__qualname__}"
    pair = (id(expected), id(actual))
    if pair in seen:
        return None  # a cycle or shared object already being compared
    seen.add(pair)
    kind = type(expected)

    def mismatch() -> str:
        return f"{path}: {actual!r:.120} != {expected!r:.120}"

    if kind is float:
        return None if floatBits(expected) == floatBits(actual) else mismatch()
    if kind is complex:
        same = floatBits(expected.real) + floatBits(expected.imag) == floatBits(actual.real) + floatBits(actual.imag)
        return None if same else mismatch()
    if kind is decimal.Decimal:
        return None if expected.as_tuple() == actual.as_tuple() else mismatch()
    if isinstance(expected, enum.Enum):
        return None if expected is actual else mismatch()
    if kind in (datetime.datetime, datetime.time):
        if expected.replace(tzinfo=None) != actual.replace(tzinfo=None) or expected.fold != actual.fold:
            return mismatch()
        return difference(expected.tzinfo, actual.tzinfo, f"{path}.tzinfo", seen)
    if kind is datetime.timezone:
        same = expected == actual and expected.tzname(None) == actual.tzname(None)
        return None if same else mismatch()
    if kind is uuid.UUID:
        return None if expected == actual and expected.is_safe is actual.is_safe else mismatch()
    if isinstance(expected, pathlib.PurePath):
        return None if str(expected) == str(actual) and expected == actual else mismatch()
    if isinstance(expected, (list, tuple)):  # NamedTuples included: their type was checked above
        if len(expected) != len(actual):
            return f"{path}: length {len(actual)}, expected {len(expected)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            if found := difference(left, right, f"{path}[{index}]", seen):
                return found
        return None
    if kind is dict:
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} keys, expected {len(expected)}"
        for index, ((leftKey, left), (rightKey, right)) in enumerate(
            zip(expected.items(), actual.items(), strict=True)
        ):
            if found := difference(leftKey, rightKey, f"{path}.keys()[{index}]", seen):
                return found
            if found := difference(left, right, f"{path}[{leftKey!r:.40}]", seen):
                return found
        return None
    if kind in (set, frozenset):
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} members, expected {len(expected)}"
        unmatched = list(actual)
        for member in expected:
            match = next(
                (i for i, other in enumerate(unmatched) if difference(member, other, path, set()) is None), None
            )
            if match is None:
                return f"{path}: no exact copy of member {member!r:.80} in {actual!r:.120}"
            unmatched.pop(match)
        return None
    if dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            left, right = getattr(expected, field.name), getattr(actual, field.name)
            if found := difference(left, right, f"{path}.{field.name}", seen):
                return found
        return None
    if isinstance(expected, BaseException):
        return difference(expected.args, actual.args, f"{path}.args", seen)
    if kind in (Vector,):
        return None if expected == actual else mismatch()
    if kind is Box:
        return difference(expected.content, actual.content, f"{path}.content", seen)
    return None if expected == actual else mismatch()


def roundTrip(value: Any) -> Any:
    return codec.decode(codec.encode(value))


def assertExact(value: Any) -> None:
    back = roundTrip(value)
    found = difference(value, back)
    assert found is None, found


# ---- strategies --------------------------------------------------------------------------------------------------

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.text(alphabet=st.characters(codec=None) | st.sampled_from("\x00\x7f\u00a0\u2028\ufeff\uffff") | SURROGATES)
ints = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.builds(
        lambda bits, sign, low: sign * (2**bits + low), st.integers(54, 1400), st.sampled_from([1, -1]), st.integers()
    ),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 2**63, -(2**63) - 1, 2**64]),
)
floats = st.one_of(
    st.floats(),
    st.sampled_from([math.inf, -math.inf, math.nan, -math.nan, 0.0, -0.0, 5e-324, sys.float_info.max]),
)
offsets = st.timedeltas(
    min_value=-datetime.timedelta(hours=23, minutes=59, seconds=59), max_value=datetime.timedelta(hours=23, minutes=59)
)
timezones = st.one_of(
    st.just(datetime.UTC),
    st.builds(datetime.timezone, offsets),
    st.builds(datetime.timezone, offsets, st.text(min_size=1, max_size=8)),
)
optionalZones = st.none() | timezones
datetimes = st.builds(
    lambda moment, fold: moment.replace(fold=fold), st.datetimes(timezones=optionalZones), st.sampled_from([0, 1])
)
times = st.builds(lambda moment, fold: moment.replace(fold=fold), st.times(timezones=optionalZones), st.integers(0, 1))
hashableDecimals = st.decimals(allow_nan=True, allow_infinity=True).filter(lambda number: not number.is_snan())
decimals = st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [decimal.Decimal(text) for text in ("1.10", "-0", "sNaN", "-NaN123", "1E+999999", "-1E-999999")]
)
uuids = st.uuids() | st.builds(
    lambda u, safe: uuid.UUID(int=u.int, is_safe=safe), st.uuids(), st.sampled_from(uuid.SafeUUID)
)
paths = st.one_of(
    st.builds(pathlib.PurePosixPath, st.text(max_size=20)),
    st.builds(pathlib.PureWindowsPath, st.text(max_size=20)),
    st.builds(
        pathlib.PurePath, st.lists(st.text(min_size=1, max_size=5), max_size=3).map(lambda parts: "/".join(parts))
    ),
)
enumMembers = st.one_of(
    st.sampled_from(Color),
    st.sampled_from(Priority),
    st.sampled_from(Mode),
    st.builds(Permission, st.integers(0, 7)),  # single flags and combinations
)
vectors = st.builds(Vector, st.integers(-5, 5), st.integers(-5, 5))

hashableLeaves = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    texts,
    st.binary(max_size=20),
    st.dates(),
    datetimes,
    times,
    st.timedeltas(),
    timezones,
    hashableDecimals,
    st.fractions(),
    uuids,
    paths,
    enumMembers,
    vectors,
)
hashables = st.recursive(
    hashableLeaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(inner, max_size=3),
        st.builds(Frozen, inner),
        st.builds(Pair, inner, inner),
    ),
    max_leaves=6,
)
leaves = st.one_of(
    hashableLeaves,
    decimals,
    st.binary(max_size=20).map(bytearray),
)


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(hashables, inner, max_size=4),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.builds(Point, inner, inner),
        st.builds(Slotted, inner, inner),
        st.builds(Extras, items=st.lists(inner, max_size=3)),
        st.builds(Frozen, hashables, st.text(max_size=5)),
        st.builds(Pair, inner, inner),
        st.builds(Box, inner),
    )


values = st.recursive(leaves, containers, max_leaves=25)
mutables = st.one_of(
    st.lists(values, max_size=3),
    st.dictionaries(hashables, values, max_size=3),
    st.sets(hashables, max_size=3),
    st.binary(max_size=5).map(bytearray),
    st.builds(Point, values, values),
    st.builds(Box, values),
)


# ---- properties --------------------------------------------------------------------------------------------------


@PROPERTIES
@given(values)
def test_any_nested_value_round_trips_exactly(value: Any) -> None:
    assertExact(value)


@PROPERTIES
@given(st.dictionaries(hashables, values, max_size=8))
def test_dicts_keep_their_key_order_and_key_types(value: dict[Any, Any]) -> None:
    back = roundTrip(value)
    assert difference(list(value), list(back)) is None
    assertExact(value)


@PROPERTIES
@given(mutables)
def test_shared_references_stay_shared(shared: Any) -> None:
    value = [shared, {"again": shared}, (shared,), Point(shared, [shared])]
    back = roundTrip(value)
    assert back[1]["again"] is back[0]
    assert back[2][0] is back[0]
    assert back[3].x is back[0]
    assert back[3].y[0] is back[0]
    assert difference(value, back) is None


@PROPERTIES
@given(values)
def test_a_value_can_contain_itself(content: Any) -> None:
    outer: list[Any] = [content]
    outer.append(outer)
    record: dict[str, Any] = {"content": content}
    record["self"] = record
    node = Point(content, None)
    node.y = node
    back = roundTrip([outer, record, node])
    assert back[0][1] is back[0]
    assert back[1]["self"] is back[1]
    assert back[2].y is back[2]
    assert difference(content, back[0][0]) is None


builtinValues = st.recursive(
    st.one_of(
        st.none(), st.booleans(), ints, floats, texts, st.binary(max_size=20), st.binary(max_size=5).map(bytearray)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.none() | st.booleans() | ints | texts | st.binary(max_size=5), inner, max_size=4),
        st.sets(ints | texts, max_size=4),
        st.frozensets(ints | texts, max_size=4),
    ),
    max_leaves=20,
)


@PROPERTIES
@given(builtinValues)
def test_standard_pickles_of_built_in_values_are_valid_payloads(value: Any) -> None:
    # Payloads without adapted objects are plain pickles: the standard pickler's output for values it writes without
    # naming any class is a valid payload, so a crafted pickle is a real attack to defend against.
    assert difference(value, codec.decode(pickle.dumps(value, protocol=5))) is None


@PROPERTIES
@given(values)
def test_payloads_without_adapted_objects_are_plain_pickles(value: Any) -> None:
    payload = codec.encode(value)
    if _hasNoAdapted(value):
        assert payload[:2] == b"\x80\x05", "a value without adapted objects is a protocol 5 pickle"


def _hasNoAdapted(value: Any, seen: set[int] | None = None) -> bool:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return True
    seen.add(id(value))
    if isinstance(value, (Box, Vector)):
        return False
    if isinstance(value, dict):
        return all(_hasNoAdapted(k, seen) and _hasNoAdapted(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_hasNoAdapted(item, seen) for item in value)
    if dataclasses.is_dataclass(value):
        return all(_hasNoAdapted(getattr(value, field.name), seen) for field in dataclasses.fields(value))
    return True


@PROPERTIES
@given(values, st.data())
def test_every_truncated_payload_is_refused_with_decode_error(value: Any, data: st.DataObject) -> None:
    payload = codec.encode(value)
    cut = data.draw(st.integers(0, len(payload) - 1), label="cut")
    with pytest.raises(codec.DecodeError):
        codec.decode(payload[:cut])


@st.composite
def buried(draw: st.DrawFn, depth: int = 0) -> tuple[Any, str]:
    """A sendable structure with one ``Opaque`` somewhere inside, and the path an error should name."""
    if depth >= 4 or (depth > 0 and draw(st.booleans())):
        return Opaque(), ""
    inner, path = draw(buried(depth + 1))
    filler = st.lists(st.integers(-3, 3) | st.text(max_size=3), max_size=2)
    before, after = draw(filler), draw(filler)
    shape = draw(st.sampled_from(["list", "tuple", "dict", "dataclass", "namedtuple"]))
    if shape == "list":
        return [*before, inner, *after], f"[{len(before)}]{path}"
    if shape == "tuple":
        return (*before, inner, *after), f"[{len(before)}]{path}"
    if shape == "dict":
        key = draw(st.text(max_size=4) | st.integers())
        record: dict[Any, Any] = {f"b{index}": item for index, item in enumerate(before)}
        record.pop(key, None)
        record[key] = inner
        return record, f"[{key!r}]{path}"
    if shape == "dataclass":
        return Point(before, inner), f".y{path}"
    return Pair(inner, after), f"[0]{path}"


@PROPERTIES
@given(buried())
def test_an_unsendable_part_is_named_by_its_place(case: tuple[Any, str]) -> None:
    value, path = case
    with pytest.raises(TypeError) as raised:
        codec.encode(value, where="args")
    assert isinstance(raised.value, workerlib.UnsendableError)
    prefix = f"args{path}: cannot send {Opaque.__module__}.Opaque; register an adapter with @adapter(Opaque)"
    assert str(raised.value) == prefix


# ---- edge cases ----------------------------------------------------------------------------------------------------

EDGE_VALUES: dict[str, Any] = {
    "huge-int": 10**5000,
    "huge-negative-int": -(2**100_000) + 1,
    "int-2**64": 2**64,
    "negative-nan": -math.nan,
    "nan-payload": struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0],
    "smallest-subnormal": 5e-324,
    "complex-nan-negative-zero": complex(math.nan, -0.0),
    "complex-infinite": complex(-math.inf, math.inf),
    "lone-surrogates": "\ud800 \udfff \udc80",
    "nul-only": "\x00",
    "every-byte": bytes(range(256)),
    "empty-bytearray": bytearray(),
    "empty-containers": [[], (), {}, set(), frozenset(), "", b"", bytearray()],
    "decimal-trailing-zero": decimal.Decimal("1.10"),
    "decimal-negative-zero": decimal.Decimal("-0"),
    "decimal-nan-payload": decimal.Decimal("-NaN42"),
    "decimal-snan": decimal.Decimal("sNaN7"),
    "decimal-huge-exponent": decimal.Decimal("9.99E+999999"),
    "decimal-many-digits": decimal.Decimal("3." + "14159265358979323846" * 20),
    "fraction-huge": fractions.Fraction(10**60 + 1, 3**80),
    "datetime-fold": datetime.datetime(2026, 10, 25, 1, 30, fold=1),
    "datetime-min-max": [datetime.datetime.min, datetime.datetime.max],
    "datetime-named-zone": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5), "X")),
    "datetime-microsecond-offset": datetime.datetime(
        2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3, seconds=7, microseconds=9))
    ),
    "time-aware": datetime.time(12, 0, tzinfo=datetime.timezone(-datetime.timedelta(hours=11))),
    "timedelta-extremes": [datetime.timedelta.min, datetime.timedelta.max, datetime.timedelta(microseconds=-1)],
    "date-extremes": [datetime.date.min, datetime.date.max],
    "timezone-extremes": [
        datetime.timezone(datetime.timedelta(hours=23, minutes=59)),
        datetime.timezone(-datetime.timedelta(hours=23, minutes=59), "far west"),
    ],
    "uuid-safe": uuid.UUID(int=2**128 - 1, is_safe=uuid.SafeUUID.safe),
    "uuid-unsafe": uuid.UUID(int=1, is_safe=uuid.SafeUUID.unsafe),
    "windows-path-case": pathlib.PureWindowsPath("C:/Users/Ann/File.TXT"),
    "posix-path-relative": pathlib.PurePath("a/../b"),
    "enum-alias": Color.CRIMSON,
    "enum-tuple-value": Color.BLUE,
    "int-enum-big": Priority.HIGH,
    "flag-combination": Permission.READ | Permission.EXECUTE,
    "flag-empty": Permission(0),
    "str-enum": Mode.SAFE,
    "frozen-dataclass": Frozen((1, "a"), label="x"),
    "slots-dataclass": Slotted([1], {2: 3}),
    "kw-only-init-false-dataclass": Extras(items=[1, 2, 3]),
    "namedtuple-default": Pair(1),
    "namedtuple-in-dict-key": {Pair(1, 2): Pair([], {})},
    "enum-dict-keys": {Color.GREEN: 1, Priority.LOW: 2, Mode.FAST: 3, Permission.WRITE: 4},
    "bool-and-int-keys": {True: "bool first", 2: "int", 0.5: "float", 1j: "complex"},
    "deeply-nested": functools.reduce(lambda inner, _: [inner], range(200), cast(Any, "bottom")),
    "adapted-as-dict-key": {Vector(1, 2): Box(Vector(3, 4))},
    "adapted-in-frozenset": frozenset({Vector(0, 0), Vector(1, 1)}),
    "adapter-output-with-adapted": Box([Box(Vector(5, 6)), {"v": Vector(7, 8)}]),
}


@pytest.mark.parametrize("value", list(EDGE_VALUES.values()), ids=list(EDGE_VALUES))
def test_edge_values_round_trip_exactly(value: Any) -> None:
    assertExact(value)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: memoryview(b"a_b_c_")[::2], b"abc", id="strided"),
        pytest.param(lambda: memoryview(bytearray(b"abcd")).cast("B", (2, 2)), b"abcd", id="two-dimensional"),
        pytest.param(lambda: memoryview(struct.pack("<2H", 1, 258)).cast("H"), b"\x01\x00\x02\x01", id="uint16"),
        pytest.param(lambda: memoryview(b""), b"", id="empty"),
    ],
)
def test_memoryviews_cross_as_bytes_of_their_contents(build: Callable[[], memoryview], expected: bytes) -> None:
    back = roundTrip({"view": build()})
    assert type(back["view"]) is bytes
    assert back["view"] == expected


def test_one_memoryview_twice_arrives_as_one_bytes_object() -> None:
    view = memoryview(b"shared")
    back = roundTrip([view, view])
    assert back == [b"shared", b"shared"]
    assert back[0] is back[1]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode_accepts_any_buffer(kind: type) -> None:
    payload = codec.encode({"a": (1, 2.5, "x")})
    assert codec.decode(kind(payload)) == {"a": (1, 2.5, "x")}


def test_decode_accepts_a_slice_of_a_larger_buffer() -> None:
    payload = codec.encode([1, "two", b"three"])
    framed = bytearray(b"garbage" + payload + b"trailer")
    assert codec.decode(memoryview(framed)[7 : 7 + len(payload)]) == [1, "two", b"three"]


def test_shared_and_cyclic_structures_through_tuples_and_adapted_objects() -> None:
    inner: list[Any] = []
    wrapper = (inner,)
    inner.append(wrapper)  # a tuple inside the list it belongs to
    box = Box(None)
    back = roundTrip([wrapper, box, box, {"box": box}])
    assert back[0][0][0] is back[0]
    assert back[1] is back[2] is back[3]["box"]


def _generator() -> Any:
    yield 1


UNSENDABLE: dict[str, tuple[Callable[[], Any], str]] = {
    "OrderedDict": (lambda: collections.OrderedDict(a=1), "collections.OrderedDict"),
    "defaultdict": (lambda: collections.defaultdict(list), "collections.defaultdict"),
    "Counter": (lambda: collections.Counter("aab"), "collections.Counter"),
    "deque": (lambda: collections.deque([1]), "collections.deque"),
    "list-subclass": (lambda: type("Items", (list,), {})([1]), f"{__name__}.Items"),
    "dict-subclass": (lambda: type("Record", (dict,), {})(a=1), f"{__name__}.Record"),
    "tuple-subclass": (lambda: type("Coordinates", (tuple,), {})((1, 2)), f"{__name__}.Coordinates"),
    "module": (lambda: math, "module"),
    "file": (lambda: io.BytesIO(b"x"), "_io.BytesIO"),
    "object": (object, "object"),
    "opaque": (Opaque, f"{__name__}.Opaque"),
}


@pytest.mark.parametrize(("build", "name"), list(UNSENDABLE.values()), ids=list(UNSENDABLE))
def test_values_outside_the_list_are_refused_not_converted(build: Callable[[], Any], name: str) -> None:
    with pytest.raises(workerlib.UnsendableError) as raised:
        codec.encode({"k": [build()]}, where="args")
    assert isinstance(raised.value, TypeError)
    message = str(raised.value)
    assert message.startswith(f"args['k'][0]: cannot send {name}")
    assert "register an adapter with @adapter(" in message


async def _asyncGenerator() -> Any:
    yield 1


@pytest.mark.parametrize(
    ("build", "name", "advice"),
    [
        (lambda: lambda: None, "function", "a callable crosses only as an argument of a call into a worker"),
        (lambda: len, "builtin_function_or_method", "a callable crosses only as an argument"),
        (lambda: [].append, "builtin_function_or_method", "a callable crosses only as an argument"),
        (lambda: functools.partial(print, 1), "functools.partial", "a callable crosses only as an argument"),
        (_generator, "generator", "make the service method itself a generator"),
        (_asyncGenerator, "async_generator", "make the service method itself a generator"),
    ],
    ids=["lambda", "builtin", "bound-builtin", "partial", "generator", "async-generator"],
)
def test_callables_and_generators_are_refused_pointing_to_what_crosses(
    build: Callable[[], Any], name: str, advice: str
) -> None:
    with pytest.raises(workerlib.UnsendableError) as raised:
        codec.encode({"k": [build()]}, where="return value")
    message = str(raised.value)
    assert message.startswith(f"return value['k'][0]: cannot send {name}; ")
    assert advice in message
    assert "register an adapter" not in message


# ---- crafted payloads ----------------------------------------------------------------------------------------------


def call(module: str, name: str, *args: Any) -> bytes:
    """A protocol 2 pickle calling ``module.name(*args)``, written by hand: GLOBAL, the arguments, REDUCE."""
    arguments = pickle.dumps(args, protocol=2)[2:-1]  # without PROTO and STOP
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + arguments + b"R."


def stackGlobal(module: str, name: str, *args: Any) -> bytes:
    """The same with protocol 4's STACK_GLOBAL, which also accepts dotted names."""
    strings = b"".join(b"\x8c" + bytes([len(text.encode())]) + text.encode() for text in (module, name))
    arguments = pickle.dumps(args, protocol=2)[2:-1]
    return b"\x80\x04" + strings + b"\x93" + arguments + b"R."


CRAFTED: dict[str, bytes] = {
    "builtins.exec": call("builtins", "exec", "import builtins; builtins.PWNED_BY_EXEC = True"),
    "builtins.eval-nested-in-a-request": b"\x80\x02(X\x04\x00\x00\x00call"
    + call("builtins", "eval", "setattr(__import__('builtins'), 'PWNED_BY_EVAL', True)")[2:-1]
    + b")}t.",
    "builtins.__import__": call("builtins", "__import__", "colorsys"),
    "importlib.import_module": call("importlib", "import_module", "colorsys"),
    "subprocess.Popen": call("subprocess", "Popen", ["true"]),
    "posix.system-stack-global": stackGlobal("posix", "system", "true"),
    "functools.partial": call("functools", "partial", 1),
    "operator.attrgetter": call("operator", "attrgetter", "__class__"),
    "copyreg._reconstructor": call("copyreg", "_reconstructor", 1, 2, 3),
    "pickle.loads": call("pickle", "loads", b"\x80\x02N."),
    "dotted-method-of-allowed-class": stackGlobal(__name__, "Point.__init__", None, 1, 2),
    "dotted-object-subclasses": stackGlobal("builtins", "object.__subclasses__"),
    "codec-internals": stackGlobal("workerlib.codec", "decode", b"\x80\x02N."),
    "module-not-imported": call("colorsys", "rgb_to_hsv", 1, 2, 3),
    "INST-opcode": b"(S'colorsys'\niimportlib\nimport_module\n.",
    "persistent-id": b"\x80\x02Pcolorsys\n.",
}


@pytest.mark.parametrize("payload", list(CRAFTED.values()), ids=list(CRAFTED))
def test_crafted_payloads_are_refused_without_side_effects(payload: bytes) -> None:
    import builtins

    assert "colorsys" not in sys.modules, "colorsys must not be imported before this test"
    with pytest.raises(codec.DecodeError):
        codec.decode(payload)
    assert not hasattr(builtins, "PWNED_BY_EXEC")
    assert not hasattr(builtins, "PWNED_BY_EVAL")
    assert "colorsys" not in sys.modules


@pytest.mark.parametrize(
    ("module", "name"),
    [(__name__, "Point"), ("fractions", "Fraction"), ("pathlib", "PurePosixPath"), ("uuid", "UUID")],
)
def test_a_payload_cannot_set_attributes_on_a_class(module: str, name: str) -> None:
    # GLOBAL module.name, then BUILD with (None, {"__repr__": that class}): the unpickler's setattr path. Decoding
    # must not alter a class shared by the whole thread (here: replace its __repr__ or add an attribute).
    cls = getattr(sys.modules[module], name)
    before = dict(vars(cls))
    global_ = f"c{module}\n{name}\n".encode()
    crafted = b"\x80\x02" + global_ + b"N}(X\x08\x00\x00\x00__repr__" + global_ + b"X\x05\x00\x00\x00pwnedK\x01u\x86b."
    try:
        with contextlib.suppress(codec.DecodeError):
            codec.decode(crafted)
        assert "pwned" not in vars(cls), f"a payload set {name}.pwned"
        assert vars(cls).get("__repr__") is before.get("__repr__"), f"a payload replaced {name}.__repr__"
    finally:
        for attribute in ("pwned", "__repr__"):
            if attribute in before:
                setattr(cls, attribute, before[attribute])
            elif attribute in vars(cls):
                delattr(cls, attribute)


MARKER = "__the_argument_goes_here__"


def injected(payload: bytes, ops: bytes) -> bytes:
    """``payload`` with the pickled string ``MARKER`` replaced by ``ops`` (opcodes that leave one object on the stack).

    The frame is dropped (frames are optional) so the lengths stay right; the MEMOIZE after the string then memoizes
    what ``ops`` built, so every later memo reference still points where it did.
    """
    assert payload[:3] == b"\x80\x05\x95", "expected one framed protocol 5 pickle"
    body = payload[11:]
    string = b"\x8c" + bytes([len(MARKER)]) + MARKER.encode()
    assert body.count(string) == 1
    return b"\x80\x05" + body.replace(string, ops)


def evalOps(code: str) -> bytes:
    return b"\x8c\x08builtins\x8c\x04eval\x93\x8c" + bytes([len(code)]) + code.encode() + b"\x85R"


def test_a_call_hidden_inside_an_otherwise_valid_payload_is_refused() -> None:
    import builtins

    payload = codec.encode(("call", [Point(1, Color.RED), {"x": MARKER}], datetime.date(2026, 1, 1)))
    assert codec.decode(injected(payload, b"\x8c\x02ok")) == (
        "call",
        [Point(1, Color.RED), {"x": "ok"}],
        datetime.date(2026, 1, 1),
    ), "the injection itself must keep the payload valid"
    with pytest.raises(codec.DecodeError, match=r"refusing the payload at byte"):
        codec.decode(injected(payload, evalOps("setattr(__import__('builtins'), 'PWNED_BY_INJECTION', 1)")))
    assert not hasattr(builtins, "PWNED_BY_INJECTION")


def test_a_payload_cannot_change_an_enum_member() -> None:
    # The decoder's own constructor hands back the one Color.RED member; a BUILD after it would change that singleton
    # for the whole thread.
    construct = call("workerlib.codec", "_construct", __name__, "Color", False, (1,))[:-1]
    state = pickle.dumps({"_value_": 99, "_name_": "PWNED", "pwned": True}, protocol=2)[2:-1]
    with contextlib.suppress(codec.DecodeError):
        codec.decode(construct + state + b"b.")
    assert Color.RED.value == 1
    assert Color.RED.name == "RED"
    assert "pwned" not in vars(Color.RED)


# ---- adapters in the codec ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Stamp:
    """A dataclass that would cross natively; its adapter must take precedence."""

    value: int
    trail: tuple[str, ...] = ()


class Signal(enum.Enum):
    ON = 1
    OFF = 0


class UserId(int):
    pass


class Tag(str):
    pass


@dataclasses.dataclass
class Checked:
    """Crosses natively; its adapter has no encode, only a decode that marks it as seen on arrival."""

    value: int
    arrived: bool = False


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __eq__(self, other: object) -> bool:
        return type(other) is Celsius and other.degrees == self.degrees


class Shape:
    def __init__(self, size: int) -> None:
        self.size = size


class Circle(Shape):
    pass


class Square(Shape):
    pass


ADAPTER_CALLS: collections.Counter[str] = collections.Counter()


@adapter(Stamp)
class StampAdapter:
    def encode(stamp: Stamp) -> Any:  # type: ignore[misc]  # a plain function in the class body, no staticmethod
        ADAPTER_CALLS["Stamp.encode"] += 1
        return [stamp.value, stamp.trail]

    def decode(data: Any) -> Stamp:
        ADAPTER_CALLS["Stamp.decode"] += 1
        return Stamp(data[0], (*data[1], "adapted"))


def _signalEncode(signal: Signal) -> str:
    ADAPTER_CALLS["Signal.encode"] += 1
    return signal.name


adapter(Signal, encode=_signalEncode, decode=lambda name: Signal[name])
adapter(UserId, encode=int)  # decode defaults to UserId itself
adapter(Tag, encode=str, decode=Tag)
adapter(Checked, decode=lambda checked: Checked(checked.value, arrived=True))  # no encode: it crosses as it is
adapter(Celsius, encode=lambda celsius: celsius.degrees)
# Order matters: the subclass's adapter first, then the superclass's, which catches every other subclass.
adapter(Circle, encode=lambda circle: circle.size, decode=lambda size: Circle(size * 10))
adapter(Shape, encode=lambda shape: shape.size, decode=Shape)


def test_an_adapter_takes_precedence_over_native_dataclass_and_enum_handling() -> None:
    before = collections.Counter(ADAPTER_CALLS)
    back = roundTrip({"stamp": Stamp(1, ("sent",)), "signal": Signal.OFF})
    assert back == {"stamp": Stamp(1, ("sent", "adapted")), "signal": Signal.OFF}
    assert ADAPTER_CALLS - before == collections.Counter({"Stamp.encode": 1, "Stamp.decode": 1, "Signal.encode": 1})


def test_subclasses_of_int_and_str_cross_with_their_adapter() -> None:
    back = roundTrip({Tag("key"): [UserId(7), Tag("value")]})
    assert difference({Tag("key"): [UserId(7), Tag("value")]}, back) is None


def test_adapter_without_encode_decodes_what_crossed_natively() -> None:
    assert roundTrip([Checked(3)]) == [Checked(3, arrived=True)]


def test_adapter_decode_defaults_to_the_class() -> None:
    assert roundTrip(Celsius(21.5)) == Celsius(21.5)


def test_adapters_match_in_registration_order() -> None:
    back = roundTrip([Circle(2), Square(3), Shape(4)])
    assert [type(item) for item in back] == [Circle, Shape, Shape]  # Square has no adapter of its own
    assert [item.size for item in back] == [20, 3, 4]


def test_registering_a_subclass_after_its_superclass_warns_naming_both() -> None:
    class Base:
        pass

    class Derived(Base):
        pass

    adapter(Base, encode=lambda base: 0, decode=lambda data: Base())
    with pytest.warns(workerlib.AdapterShadowedWarning) as caught:
        adapter(Derived, encode=lambda derived: 1, decode=lambda data: Derived())
    message = str(caught[0].message)
    assert "Derived" in message
    assert "Base" in message
    assert caught[0].filename == __file__, "the warning points at the registration"
