"""The one table of what crosses (:mod:`workerlib.kinds`): every list of types elsewhere derives from it or is tied
to it here, and every entry says of its type what the type really does."""

from __future__ import annotations

import datetime
import decimal
import fractions
import io
import pathlib
import pickle
import uuid
from typing import Any

import pytest

from tests.unit import test_decoder_fuzz
from workerlib import codec, kinds, nesting, screening
from workerlib.adapters import NATIVE_TYPES
from workerlib.rebuild import STANDARD_RULES

SAMPLES: dict[type, list[Any]] = {
    type(None): [None],
    bool: [True, False],
    int: [0, -1, 2**70],
    float: [1.5, float("inf")],
    str: ["", "é"],
    bytes: [b"", b"\x00\xff"],
    bytearray: [bytearray(b"xy")],
    list: [[1, [2]]],
    tuple: [(), (1, (2,))],
    dict: [{"a": {1: 2}}],
    set: [{1, 2}],
    frozenset: [frozenset({(1, 2)})],
    complex: [complex(1, -2)],
    fractions.Fraction: [fractions.Fraction(-3, 7)],
    decimal.Decimal: [decimal.Decimal("-1.50E+3"), decimal.Decimal("NaN")],
    uuid.UUID: [uuid.UUID(int=12345)],
    uuid.SafeUUID: [uuid.SafeUUID.safe],
    datetime.date: [datetime.date(2026, 12, 6)],
    datetime.time: [datetime.time(23, 59, 1, 5, tzinfo=datetime.UTC, fold=1)],
    datetime.datetime: [
        datetime.datetime(2026, 12, 6, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    ],
    datetime.timedelta: [datetime.timedelta(days=-3, seconds=5, microseconds=7)],
    datetime.timezone: [datetime.UTC, datetime.timezone(datetime.timedelta(minutes=-90), "x")],
    pathlib.PurePath: [pathlib.PurePath("a/b")],
    pathlib.PurePosixPath: [pathlib.PurePosixPath("/a/b")],
    pathlib.PureWindowsPath: [pathlib.PureWindowsPath("c:/a")],
    pathlib.Path: [pathlib.Path("a")],
    pathlib.PosixPath: [pathlib.PosixPath("/a")],
}


def test_every_kind_has_a_sample_and_each_round_trips_with_its_exact_type() -> None:
    missing = {kind.type for kind in kinds.KINDS} - set(SAMPLES) - {pathlib.WindowsPath}  # not on this platform
    assert not missing
    for samples in SAMPLES.values():
        for value in samples:
            back = codec.decode(codec.encode(value))
            assert type(back) is type(value), value
            assert back == value or value != value, value


def test_native_types_are_exactly_those_the_pickler_writes_without_the_reducer() -> None:
    class Recording(pickle.Pickler):
        def __init__(self) -> None:
            super().__init__(io.BytesIO(), protocol=codec.PROTOCOL)
            self.asked: list[type] = []

        def reducer_override(self, obj: Any) -> Any:
            self.asked.append(type(obj))
            return NotImplemented

    for kind in kinds.KINDS:
        for value in SAMPLES.get(kind.type, []):
            pickler = Recording()
            pickler.dump(value)
            assert (type(value) not in pickler.asked) == kind.native, kind


def test_scalars_are_the_kinds_of_depth_zero_and_levels_count_one() -> None:
    for kind in kinds.KINDS:
        for value in SAMPLES.get(kind.type, []):
            if not kind.level:
                assert nesting.depthOf(value) == 0, kind
            elif kind.type not in (list, tuple, dict, set, frozenset):
                assert nesting.depthOf(value) == 1, kind


def test_the_hash_of_a_kind_not_marked_aimed_does_not_follow_a_value_a_sender_picks() -> None:
    # str and bytes hash with a per-process key; dates, times and paths hash their bytes or strings the same way.
    # Numbers hash by value: hash(n) == n for small ints, so a sender picks colliding ones at will.
    assert hash(2**61 + 5) == hash(6)
    assert hash(1.0) == hash(1)
    for kind in kinds.KINDS:
        if kind.type in (int, float, complex, fractions.Fraction, decimal.Decimal, uuid.UUID, tuple, frozenset):
            assert kind.aimedHash, kind


def test_lists_elsewhere_derive_from_the_table_or_are_tied_to_it() -> None:
    assert NATIVE_TYPES is kinds.NATIVE_TYPES
    assert nesting.SCALARS is kinds.SCALARS
    assert set(STANDARD_RULES) == {kind.type for kind in kinds.KINDS if kind.rule is not None}
    # The fuzz's own idea of a value made only of data must be the table's, not a list of its own drifting apart.
    assert test_decoder_fuzz.SCALARS == kinds.SCALARS
    assert set(test_decoder_fuzz.STANDARD) <= kinds.CROSSING
    # The stand-ins: one list of names, and the codec's functions named by it.
    assert tuple(function.__name__ for function in codec._STAND_IN_FUNCTIONS) == screening.STAND_INS


@pytest.mark.parametrize("kind", [kind for kind in kinds.KINDS if kind.rule is not None], ids=lambda k: k.type.__name__)
def test_a_standard_rule_refuses_arguments_of_another_shape(kind: kinds.Kind) -> None:
    with pytest.raises(codec.DecodeError):
        kind.rule.build(kind.type, ("not", "what", "it", "sends", object()), None)  # type: ignore[union-attr]
