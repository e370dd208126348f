"""The codec in plain CPython: exact types, refusals before sending, and a decoder that cannot be talked into code."""

from __future__ import annotations

import datetime
import decimal
import fractions
import math
import os
import pathlib
import pickle
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

import pytest

from workerlib import codec


class Color(Enum):
    RED = 1
    GREEN = "green"


@dataclass
class Point:
    x: float
    y: float


class Pair(NamedTuple):
    left: int
    right: str


class Opaque:
    pass


VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -(2**70),
    2**53 + 1,
    1.5,
    -0.0,
    math.inf,
    1 + 2j,
    "",
    "naïve \x00 ☃ \U0001f600",
    b"\x00\xff",
    bytearray(b"abc"),
    [1, [2, [3]]],
    (1, (2,), ()),
    {1, "a", (2, 3)},
    frozenset({1, 2}),
    {"b": 1, "a": 2, 3: "c", (1, 2): None, frozenset({1}): [1]},
    datetime.datetime(2026, 11, 21, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
    datetime.datetime(2026, 11, 21, 12, 30),
    datetime.date(2026, 1, 2),
    datetime.time(23, 59, 1, 5),
    datetime.timedelta(days=-1, microseconds=3),
    datetime.UTC,
    decimal.Decimal("-1.10"),
    fractions.Fraction(-7, 3),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    pathlib.PurePosixPath("/a/b.txt"),
    Color.RED,
    Color.GREEN,
    Point(1.0, -2.5),
    Pair(1, "x"),
    ValueError("bad", 3),
]


def exactlyEqual(left: Any, right: Any) -> bool:
    """Equal, of the same type, recursively, dict key order included; NaN equals NaN."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return bool(math.isnan(right))
    if isinstance(left, float):
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    if isinstance(left, dict):
        return list(left) == list(right) and all(exactlyEqual(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(exactlyEqual(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, BaseException):
        return bool(left.args == right.args)
    return bool(left == right)


@pytest.mark.parametrize("value", VALUES, ids=lambda value: type(value).__qualname__)
def test_values_round_trip_with_their_exact_type(value: Any) -> None:
    assert exactlyEqual(codec.decode(codec.encode(value)), value)


def test_nan_and_negative_zero_survive() -> None:
    back = codec.decode(codec.encode([math.nan, -0.0]))
    assert math.isnan(back[0])
    assert math.copysign(1, back[1]) == -1


def test_shared_references_and_cycles_are_kept() -> None:
    shared = [1, 2]
    cyclic: list[Any] = [shared, shared]
    cyclic.append(cyclic)
    back = codec.decode(codec.encode(cyclic))
    assert back[0] is back[1]
    assert back[2] is back


def test_memoryview_arrives_as_bytes() -> None:
    assert codec.decode(codec.encode(memoryview(b"abc"))) == b"abc"


def test_unsendable_value_is_named_with_its_place() -> None:
    with pytest.raises(codec.UnsendableError) as raised:
        codec.encode((1, {"points": [0, 1, 2, Opaque()]}), where="args")
    message = str(raised.value)
    assert message.startswith("args[1]['points'][3]: cannot send ")
    assert "Opaque; register an adapter with @adapter(Opaque)" in message


def test_functions_and_classes_outside_the_allowed_kinds_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot send"):
        codec.encode([print])
    with pytest.raises(TypeError, match=r"cannot send the class .*Opaque itself"):
        codec.encode(Opaque)


def test_subclass_of_a_builtin_is_not_silently_turned_into_its_base() -> None:
    class Tagged(str):
        pass

    with pytest.raises(TypeError, match=r"@adapter\(.*Tagged\)"):
        codec.encode(Tagged("x"))


@pytest.mark.parametrize(
    "crafted",
    [
        pickle.dumps(os.system),
        b"cos\nsystem\n(S'echo pwned'\ntR.",
        b"cbuiltins\neval\n(S'1+1'\ntR.",
        b"c__builtin__\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR.",
    ],
    ids=["pickled-function", "os.system", "eval", "getattr"],
)
def test_crafted_payloads_cannot_call_anything(crafted: bytes) -> None:
    with pytest.raises(codec.DecodeError, match=r"refusing|not imported|malformed"):
        codec.decode(crafted)


def test_decoding_never_imports_a_module() -> None:
    # STACK_GLOBAL of two strings, written as the encoder writes its stand-ins: the screen knows them by name.
    crafted = b"\x80\x05\x8c\x0bantigravity\x94\x8c\x03fly\x94\x93\x94)R\x94."
    with pytest.raises(codec.DecodeError, match=r"a global other than one of workerlib's stand-ins"):
        codec.decode(crafted)
    import sys

    assert "antigravity" not in sys.modules


@pytest.mark.parametrize("garbage", [b"", b"\x80", b"\x80\x05K", b"not a pickle at all"])
def test_malformed_payloads_raise_decode_error(garbage: bytes) -> None:
    with pytest.raises(codec.DecodeError, match="malformed payload"):
        codec.decode(garbage)


def test_workerlibs_own_errors_cross_with_their_fields_and_notes() -> None:
    from workerlib import AdapterError, RemoteError

    remote = RemoteError("app.Broken", "it broke", "Traceback ...")
    remote.add_note("raised in a worker")
    back = codec.decode(codec.encode(remote))
    assert type(back) is RemoteError
    assert (back.remoteType, back.message, back.remoteTraceback) == ("app.Broken", "it broke", "Traceback ...")
    assert back.__notes__ == ["raised in a worker"]
    adapterError = AdapterError("the adapter for x.Y failed to encode args[0]: ValueError: no", adapter=object())
    adapterError.add_note("a note")
    back = codec.decode(codec.encode(adapterError))
    assert type(back) is AdapterError
    assert str(back) == str(adapterError)
    assert back.__notes__ == ["a note"]
    assert back.adapter is None


@dataclass
class Holder:
    data: Any


class Reading:
    def __init__(self, samples: bytes | bytearray | str) -> None:
        self.samples = samples


FRAME_SIZE = 64 * 1024
"""pickle writes a bytes, bytearray or str at least this long outside its frames, then starts a new frame."""


@pytest.mark.parametrize(
    "big",
    [bytes(range(256)) * (FRAME_SIZE // 256), bytearray(b"x" * FRAME_SIZE), "\u00e9" * FRAME_SIZE],
    ids=lambda big: type(big).__qualname__,
)
def test_values_past_a_pickle_frame_round_trip_inside_objects(big: bytes | bytearray | str) -> None:
    from workerlib import adapter
    from workerlib.adapters import registry

    for value in (Holder(big), [Point(1.0, 2.0), Holder(big), Holder(big[:10])], (big, Holder(big))):
        assert exactlyEqual(codec.decode(codec.encode(value)), value)
    adapter(
        Reading, encode=lambda reading: (len(reading.samples), reading.samples), decode=lambda data: Reading(data[1])
    )
    try:
        back = codec.decode(codec.encode([Reading(big), Reading(big)]))
        assert [reading.samples for reading in back] == [big, big]
    finally:
        registry.unregister(Reading)


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees


def test_plain_adapters_travel_in_place_and_async_ones_as_segments() -> None:
    from workerlib import adapter
    from workerlib.adapters import registry

    adapter(Celsius, encode=lambda c: c.degrees, decode=Celsius)
    try:
        payload = codec.encode([Celsius(1.5), Celsius(-3.0)])
        assert not payload.startswith(codec.MAGIC)  # one plain pickle: no segments
        back = codec.decode(payload)
        assert [type(c) for c in back] == [Celsius, Celsius]
        assert [c.degrees for c in back] == [1.5, -3.0]
    finally:
        registry.unregister(Celsius)

    async def encodeLater(c: Celsius) -> float:
        return c.degrees

    adapter(Celsius, encode=encodeLater, decode=Celsius)
    try:
        payload = codec.encode([Celsius(2.0)])
        assert payload.startswith(codec.MAGIC)
        assert codec.decode(payload)[0].degrees == 2.0
    finally:
        registry.unregister(Celsius)


def test_a_plain_function_returning_an_awaitable_is_told_to_be_async() -> None:
    from workerlib import AdapterError, adapter
    from workerlib.adapters import registry

    async def degrees(c: Celsius) -> float:
        return c.degrees

    adapter(Celsius, encode=lambda c: degrees(c), decode=Celsius)
    try:
        with pytest.raises(AdapterError, match=r"failed to encode value\[0\]: TypeError: encode returned an awaitable"):
            codec.encode([Celsius(1.0)])
    finally:
        registry.unregister(Celsius)


def test_a_value_sent_in_place_to_a_side_whose_adapter_is_async_is_refused_clearly() -> None:
    from workerlib import adapter
    from workerlib.adapters import registry

    adapter(Celsius, encode=lambda c: c.degrees, decode=Celsius)
    payload = codec.encode(Celsius(1.0))
    registry.unregister(Celsius)

    async def decodeLater(degrees: float) -> Celsius:
        return Celsius(degrees)

    adapter(Celsius, encode=lambda c: c.degrees, decode=decodeLater)
    try:
        with pytest.raises(codec.DecodeError, match="whose adapter here is async; register the same adapter"):
            codec.decode(payload)
    finally:
        registry.unregister(Celsius)


def test_an_adapter_returning_its_own_object_fails_clearly_instead_of_hanging() -> None:
    from workerlib import adapter
    from workerlib.adapters import registry

    adapter(Celsius, encode=lambda c: [c], decode=lambda data: Celsius(0.0))
    try:
        with pytest.raises(codec.UnsendableError, match="an adapter's encode returns data that holds the object"):
            codec.encode({"t": Celsius(1.0)})
    finally:
        registry.unregister(Celsius)


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_an_adapter_error_carries_the_adapters_own_exception_as_its_cause(kind: str) -> None:
    from workerlib import AdapterError, adapter
    from workerlib.adapters import registry

    def refuse(c: Celsius) -> float:
        raise KeyError("no degrees")

    async def refuseLater(c: Celsius) -> float:
        raise KeyError("no degrees")

    adapter(Celsius, encode=refuse if kind == "plain" else refuseLater, decode=Celsius)
    try:
        with pytest.raises(AdapterError, match=r"failed to encode value\['t'\]: KeyError: 'no degrees'") as raised:
            codec.encode({"t": Celsius(1.0)})
        assert isinstance(raised.value.__cause__, KeyError)
    finally:
        registry.unregister(Celsius)
