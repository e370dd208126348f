"""A structure-aware fuzz of the decoder: valid payloads, mutated opcode by opcode, must keep issue 12's promise.

The seeds are what :func:`workerlib.codec.encode` makes of varied values (containers, scalars, standard types, an Enum,
a dataclass, a NamedTuple, exceptions, shared references and cycles). Each mutant changes a seed where an attacker
would: an opcode swapped for another, a length or memo index made huge, zero or off by one, a module or class name
turned into ``os``/``builtins``/``workerlib.codec``..., opcodes duplicated, deleted or inserted (BUILD, REDUCE, GLOBAL,
PUT, FRAME...), a value nested thousands of levels deep, parts of another payload spliced in, several of these at once.

Whatever a mutant holds, decoding it must: return a value made only of data, or raise a ``workerlib.WorkerlibError``
(nothing else); import nothing; leave Enum members, classes, module globals and the decoder's own functions as they
were; spend (CPU time, ``tracemalloc`` running) at most 50 ms plus 20 us per payload byte; and allocate
(``tracemalloc`` peak) at most 64 bytes per payload byte plus 4 MB. Besides the mutations anyone would try, the
``grammar`` kind mutates what the encoder's grammar rules out (stand-ins swapped, MEMOIZE moved, a container fetched
and filled after a POP, memo references swapped, calls given another number of arguments).

Deterministic: each kind of mutation draws from its own seeded ``random.Random``, so every run sees the same mutants.
``WORKERLIB_FUZZ_MUTANTS`` sets how many mutants of each kind a run makes (500 by default: longer on demand).

A failure lists the first offending mutants with what they broke and their bytes, to reproduce them by hand.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime
import decimal
import enum
import fractions
import os
import pathlib
import pickle
import pickletools
import random
import struct
import sys
import time
import tracemalloc
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest

import workerlib
from workerlib import codec, screening

NESTING_LIMIT: int = getattr(codec, "NESTING_LIMIT", 1000)
MUTANTS_PER_KIND = int(os.environ.get("WORKERLIB_FUZZ_MUTANTS", "500"))


def cpuBound(size: int) -> float:
    return 0.05 + 20e-6 * size


def memoryBound(size: int) -> int:
    return 64 * size + 4 * 2**20


# ---- the seeds -----------------------------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1
    GREEN = "green"
    BLUE = (0, 0, 255)


@dataclasses.dataclass
class Point:
    x: Any
    y: Any


class Pair(NamedTuple):
    left: int
    right: str


class Refusal(Exception):
    """An exception whose ``__init__`` takes other arguments than it hands to ``Exception``."""

    def __init__(self, image: str, minimum: int) -> None:
        super().__init__(f"image {image} under {minimum}")
        self.image = image
        self.minimum = minimum


def seedValues() -> dict[str, Any]:
    shared = [1, "shared"]
    cycle: list[Any] = [shared, {"again": shared}]
    cycle.append(cycle)
    selfish: dict[str, Any] = {"name": "loop"}
    selfish["self"] = selfish
    failure = ValueError("bad value", 3)
    failure.code = 7  # type: ignore[attr-defined]
    failure.add_note("while fuzzing")
    return {
        "containers": {
            "list": [1, [2, [3, (4, 5)]]],
            "tuple": (1, "a", (2.5, None)),
            "set": {1, 2, 3},
            "frozenset": frozenset({7, (1, 2)}),  # no str in a set: its order, so the seed, would vary by run
            "nested": {"a": {"b": {"c": []}}},
            (1, 2): "a tuple key",
        },
        "scalars": [
            "",
            "naïve ☃ \U0001f600",
            "x" * 300,
            b"\x00\xff",
            b"b" * 300,
            bytearray(b"abc"),
            2**100,
            -(2**70),
            0,
            255,
            65535,
            2**31,
            1.5,
            float("nan"),
            -0.0,
            True,
            None,
        ],
        "standard": [
            datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            datetime.date(2026, 11, 21),
            datetime.time(23, 59, 1, 5),
            datetime.timedelta(days=-1, microseconds=3),
            decimal.Decimal("-1.10"),
            fractions.Fraction(-7, 3),
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            pathlib.PurePosixPath("/a/b.txt"),
            1 + 2j,
        ],
        "objects": [Color.RED, Color.GREEN, Color.BLUE, Point(1, [2]), Pair(1, "x"), failure, Refusal("cat.png", 64)],
        "shared": (cycle, selfish, shared),
        "mixed": (
            "call",
            [Point(1.0, Color.RED), {"x": decimal.Decimal("1.5")}],
            datetime.date(2026, 1, 1),
            Pair(2, "y"),
            {frozenset({1}): b"k"},
        ),
    }


# ---- payloads as lists of opcodes ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Piece:
    """One opcode of a payload (``name`` and ``arg`` as pickletools reads them), or a snippet spliced in whole."""

    name: str
    arg: Any
    raw: bytes


def pieces(data: bytes) -> list[Piece]:
    ops = list(pickletools.genops(data))
    ends = [start for _, _, start in ops[1:]] + [len(data)]
    return [Piece(op.name, arg, data[start:end]) for (op, arg, start), end in zip(ops, ends, strict=True)]


def joined(parts: list[Piece]) -> bytes:
    return b"".join(piece.raw for piece in parts)


def snippet(raw: bytes) -> Piece:
    return Piece("SNIPPET", None, raw)


@dataclasses.dataclass(frozen=True)
class Seed:
    name: str
    framed: list[Piece]
    unframed: list[Piece]
    """The same opcodes without FRAME (frames are optional): a change inside a frame does not break its length."""


def makeSeeds() -> list[Seed]:
    seeds = []
    for name, value in seedValues().items():
        framed = pieces(codec.encode(value))
        seeds.append(Seed(name, framed, [piece for piece in framed if piece.name != "FRAME"]))
    return seeds


def text(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return b"\x8c" + bytes([len(data)]) + data if len(data) < 256 else b"X" + struct.pack("<I", len(data)) + data


def plain(value: Any) -> bytes:
    """The standard pickler's opcodes for a value without shared parts, minus PROTO, FRAME, MEMOIZE and STOP."""
    return b"".join(
        piece.raw
        for piece in pieces(pickle.dumps(value, protocol=5))
        if piece.name not in ("PROTO", "FRAME", "MEMOIZE", "STOP")
    )


MODULE = __name__
STAND_INS = ["_construct", "_member", "_inline", "_segment", "_attached", "_outOfBand"]
NAMES = [
    "os",
    "subprocess",
    "builtins",
    "workerlib.codec",
    "workerlib",
    "sys",
    "posix",
    "importlib",
    "pickle",
    "encodings.gb18030",
    "gb18030",
    "system",
    "__init__",
    "eval",
    "exec",
    "getattr",
    "__import__",
    "__new__",
    "__post_init__",
    "_missing_",
    "__setstate__",
    "__reduce__",
    "__class__",
    "__dict__",
    "__globals__",
    *STAND_INS,
    "decode",
    "_Unpickler",
    MODULE,
    "Color",
    "Color.RED",
    "Point",
    "Point.__init__",
    "Pair",
    "Refusal",
    "object.__subclasses__",
    "str",
    "type",
    "object",
    "Fraction",
    "Decimal",
    "1e30000000",
    "1e1000000000",
    "sNaN",
    "",
    "\x00",
    "\udcff",
    "a" * 300,
]
"""Strings an attacker would put where a seed has a module, class name or text argument."""

PAIRS = [
    ("os", "system"),
    ("posix", "system"),
    ("subprocess", "Popen"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("builtins", "__import__"),
    ("builtins", "object.__subclasses__"),
    ("builtins", "str"),
    ("importlib", "import_module"),
    ("pickle", "loads"),
    ("copyreg", "_reconstructor"),
    ("sys", "modules"),
    ("encodings.gb18030", "Codec"),
    ("workerlib.codec", "_construct"),
    ("workerlib.codec", "_member"),
    ("workerlib.codec", "decode"),
    ("workerlib.codec", "_Unpickler"),
    (MODULE, "Color"),
    (MODULE, "Point.__init__"),
    (MODULE, "Refusal.__init__"),
    ("fractions", "Fraction"),
    ("uuid", "SafeUUID"),
    ("enum", "Enum"),
]
"""(module, name) pairs for the two strings before a STACK_GLOBAL."""


# ---- mutations -----------------------------------------------------------------------------------------------------

OPCODES = [op for op in pickletools.opcodes if op.name != "STOP"]
HUGE = {1: [255], 2: [65535], 4: [2**31, 2**32 - 1], 8: [3 * 2**30, 2**63 - 1, 2**64 - 1]}
"""Huge values per width. Between 2**26 and 2**30 a LONG_BINPUT index makes CPython's own unpickler clear gigabytes
(so the old decoder, if the fuzz is run against it); these are the sizes no allocator grants at once."""


def argument(op: pickletools.OpcodeInfo, rng: random.Random) -> bytes:
    """A plausible argument for ``op``: often small and valid, sometimes huge."""
    kind = op.arg.name if op.arg is not None else None
    word = rng.choice(NAMES).encode("utf-8", "surrogatepass")
    if kind is None:
        return b""
    if kind == "uint1":
        return bytes([rng.choice([0, 1, 2, 255])])
    if kind == "uint2":
        return struct.pack("<H", rng.choice([0, 1, 65535]))
    if kind in ("uint4", "int4"):
        return struct.pack("<I", rng.choice([0, 1, 2, *HUGE[4]]))
    if kind == "uint8":
        return struct.pack("<Q", rng.choice([0, 1, 8, *HUGE[8]]))
    if kind == "long1":
        data = rng.randbytes(rng.choice([0, 1, 8, 200]))
        return bytes([len(data)]) + data
    if kind == "long4":
        data = rng.randbytes(rng.choice([0, 1, 8, 2000]))
        return struct.pack("<i", len(data)) + data
    if kind in ("string1", "bytes1", "unicodestring1"):
        return bytes([len(word[:255])]) + word[:255]
    if kind in ("string4", "bytes4", "unicodestring4"):
        return struct.pack("<I", len(word)) + word
    if kind in ("bytes8", "unicodestring8", "bytearray8"):
        return struct.pack("<Q", len(word)) + word
    if kind in ("decimalnl_short", "decimalnl_long"):
        return (
            rng.choice([b"0", b"1", b"99999999999999999999", b"-1", b"x"]) + (b"L" if "long" in kind else b"") + b"\n"
        )
    if kind == "floatnl":
        return rng.choice([b"1.5", b"nan", b"1e999", b"x"]) + b"\n"
    if kind == "float8":
        return struct.pack(">d", rng.choice([0.0, float("inf"), float("nan")]))
    if kind == "stringnl":
        return b"'" + word.replace(b"\n", b"") + b"'\n"
    if kind == "stringnl_noescape":
        return word.replace(b"\n", b"") + b"\n"
    if kind == "stringnl_noescape_pair":
        module, name = rng.choice(PAIRS)
        return f"{module}\n{name}\n".encode()
    if kind == "unicodestringnl":
        return word.replace(b"\n", b"") + b"\n"
    raise AssertionError(f"no argument maker for {kind}")


def randomOp(rng: random.Random) -> Piece:
    op = rng.choice(OPCODES)
    return snippet(op.code.encode("latin-1") + argument(op, rng))


def snippets(rng: random.Random) -> bytes:
    """Opcodes an attacker inserts: the ones the screen must refuse, and calls of the decoder's stand-ins."""
    standIn = text("workerlib.codec") + text(rng.choice(STAND_INS)) + b"\x93"
    choices: list[bytes] = [
        b"b",  # BUILD
        b"}" + text("x") + b"K\x01sb",  # BUILD with {"x": 1}
        b"N}" + text("_value_") + b"\x88s\x86b",  # BUILD with (None, {"_value_": True}): the setattr path
        b"R",  # REDUCE
        b")R",
        b"cos\nsystem\n",  # GLOBAL
        b"cbuiltins\neval\n",
        text("os") + text("system") + b"\x93",  # STACK_GLOBAL
        standIn,
        standIn + b"}" + text("__call__") + b"K\x01sb",  # BUILD on a stand-in
        standIn + plain((MODULE, "Color", False, (1,))) + b"R",  # a stand-in called with the old format's arguments
        standIn + plain((MODULE, "Color", 99)) + b"R",
        standIn + plain(("builtins", "str", False, (b"\x81\x30", "gb18030"), None)) + b"R",
        standIn + plain((MODULE, "Refusal", False, ("chosen",), None)) + b"R",
        b"(ios\nsystem\n",  # INST
        b"o",  # OBJ
        b"\x81",  # NEWOBJ
        b"\x92",  # NEWOBJ_EX
        b"\x82\x01",  # EXT1
        b"P0\n",  # PERSID
        b"Q",  # BINPERSID
        b"p0\n",  # PUT
        b"q\x00",  # BINPUT
        b"r\x00\x00\x00\x00",  # LONG_BINPUT
        b"r" + struct.pack("<I", rng.choice(HUGE[4])),
        b"g0\n",  # GET
        b"h\x00",  # BINGET
        b"j" + struct.pack("<I", rng.choice(HUGE[4])),  # LONG_BINGET
        b"\x94",  # MEMOIZE
        b"\x95" + struct.pack("<Q", rng.choice([0, 1, 8, *HUGE[8]])),  # FRAME
        b"(",
        b"0",
        b"1",
        b"2",
        b"s",
        b"u",
        b"a",
        b"e",
        b"\x90",
        b"\x91",
        b"\x97",  # NEXT_BUFFER
        b"\x98",  # READONLY_BUFFER
        b"N",
        b"}",
        b"\x8f",
        b"]",
        b"\x85",
        b".",
        b"\x80\x05",
    ]
    return rng.choice(choices)


def anyIndex(rng: random.Random, parts: list[Piece]) -> int:
    """A position after PROTO (index 0), STOP included."""
    return rng.randrange(1, len(parts))


def mutateOpcode(rng: random.Random, parts: list[Piece]) -> str:
    index = rng.randrange(len(parts)) if rng.random() < 0.05 else anyIndex(rng, parts)
    before = parts[index].name
    parts[index] = randomOp(rng)
    return f"opcode {index} ({before}) -> {parts[index].raw[:12]!r}"


COUNTED = {  # argument kind -> width of its length field
    "string1": 1,
    "bytes1": 1,
    "unicodestring1": 1,
    "long1": 1,
    "string4": 4,
    "bytes4": 4,
    "unicodestring4": 4,
    "long4": 4,
    "bytes8": 8,
    "unicodestring8": 8,
    "bytearray8": 8,
}
INDEXED = {"uint1": 1, "uint2": 2, "uint4": 4, "int4": 4, "uint8": 8}
FORMATS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


def mutateNumber(rng: random.Random, parts: list[Piece]) -> str:
    """A length, memo index, frame size or integer set to 0, off by one, or huge; or an int made enormous."""
    candidates = [
        index
        for index, piece in enumerate(parts)
        if index > 0 and piece.name in BY_NAME and BY_NAME[piece.name].arg is not None
    ]
    if not candidates:
        return mutateOpcode(rng, parts)
    index = rng.choice(candidates)
    piece = parts[index]
    op = BY_NAME[piece.name]
    assert op.arg is not None
    kind = op.arg.name
    if piece.name in INTS and rng.random() < 0.3:
        value = rng.choice([0, -1, 2**31, 1 << 70_000, -(10**5000)])
        parts[index] = snippet(plain(value))
        return f"{piece.name} {index} -> an int of {value.bit_length()} bits"
    if kind in COUNTED or kind in INDEXED:
        width = COUNTED.get(kind) or INDEXED[kind]
        (current,) = struct.unpack(FORMATS[width], piece.raw[1 : 1 + width])
        value = min(max(rng.choice([0, current - 1, current + 1, *HUGE[width]]), 0), 2 ** (8 * width) - 1)
        parts[index] = snippet(piece.raw[:1] + struct.pack(FORMATS[width], value) + piece.raw[1 + width :])
        return f"{piece.name} {index}: {current} -> {value}"
    return mutateOpcode(rng, parts)


BY_NAME = {op.name: op for op in pickletools.opcodes}
INTS = ("INT", "LONG", "BININT", "BININT1", "BININT2", "LONG1", "LONG4")
STRINGS = ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE")
BYTES = ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8")


def mutateString(rng: random.Random, parts: list[Piece]) -> str:
    """A name or text argument replaced: a module and class named before a STACK_GLOBAL, any string, any bytes."""
    strings = [index for index, piece in enumerate(parts) if piece.name in STRINGS]
    globals_ = [index for index, piece in enumerate(parts) if piece.name == "STACK_GLOBAL"]
    roll = rng.random()
    if globals_ and roll < 0.4:
        at = rng.choice(globals_)
        before = [index for index in strings if index < at][-2:]
        if len(before) == 2:
            module, name = rng.choice(PAIRS)
            parts[before[0]] = snippet(text(module))
            parts[before[1]] = snippet(text(name))
            return f"STACK_GLOBAL {at} names {module}.{name}"
    binaries = [index for index, piece in enumerate(parts) if piece.name in BYTES]
    if binaries and roll > 0.85:
        index = rng.choice(binaries)
        data = rng.choice([b"", b"\xff" * 10, rng.randbytes(rng.randrange(1, 40)), parts[index].raw[1:]])
        parts[index] = snippet(b"C" + bytes([len(data[:255])]) + data[:255])
        return f"bytes {index} -> {data[:20]!r}"
    if not strings:
        return mutateOpcode(rng, parts)
    index = rng.choice(strings)
    word = rng.choice(NAMES)
    replacedName = parts[index].name
    parts[index] = snippet(text(word))
    return f"string {index} ({replacedName}) -> {word[:30]!r}"


def mutateOps(rng: random.Random, parts: list[Piece]) -> str:
    """An opcode duplicated or deleted, or attacker's opcodes inserted."""
    roll = rng.random()
    index = anyIndex(rng, parts)
    if roll < 0.25:
        parts.insert(index, parts[index])
        return f"duplicated {index} ({parts[index].name})"
    if roll < 0.45 and len(parts) > 2:
        removed = parts.pop(index)
        return f"deleted {index} ({removed.name})"
    inserted = snippets(rng)
    parts.insert(index, snippet(inserted))
    return f"inserted {inserted[:40]!r} at {index}"


def mutateNesting(rng: random.Random, parts: list[Piece]) -> str:
    """A value nested around the nesting limit or far beyond: tuples, lists, a deep tuple in a set, the whole value."""
    depth = rng.choice([NESTING_LIMIT - 1, NESTING_LIMIT, NESTING_LIMIT + 1, 2 * NESTING_LIMIT, 5_000, 20_000])
    roll = rng.random()
    if roll < 0.25:
        parts.insert(len(parts) - 1, snippet(b"\x85" * depth))  # the whole value, before STOP
        return f"whole value in {depth} 1-tuples"
    index = anyIndex(rng, parts)
    if roll < 0.5:
        parts.insert(index, snippet(b"\x85" * depth))
        return f"{depth} TUPLE1 at {index}"
    if roll < 0.7:
        parts.insert(index, snippet(b")" + b"\x85" * depth))
        return f"a {depth}-deep tuple at {index}"
    if roll < 0.85:
        parts.insert(index, snippet(b"]" * depth + b"a" * (depth - 1)))
        return f"a {depth}-deep list at {index}"
    parts.insert(index, snippet(b"(" + b")" + b"\x85" * depth + b"\x91"))
    return f"a {depth}-deep tuple in a frozenset at {index}"


STAND_IN_NAMES = list(screening.STAND_INS)  # the names the decoder knows its stand-ins by


def mutateGrammar(rng: random.Random, parts: list[Piece]) -> str:
    """What the encoder's grammar rules out, made from its own output: a stand-in called where another one stands, a
    MEMOIZE moved, a container fetched again and filled after a POP, memo references swapped, a call given one more
    or one fewer argument."""
    roll = rng.random()
    names = [index for index, piece in enumerate(parts) if piece.name in STRINGS and piece.arg in STAND_IN_NAMES]
    if names and roll < 0.25:
        index = rng.choice(names)
        name = rng.choice(STAND_IN_NAMES)
        parts[index] = snippet(text(name))
        return f"stand-in at {index} -> {name}"
    memoizes = [index for index, piece in enumerate(parts) if piece.name == "MEMOIZE"]
    if memoizes and roll < 0.45:
        moved = parts.pop(rng.choice(memoizes))
        parts.insert(anyIndex(rng, parts), moved)
        return "MEMOIZE moved"
    gets = [index for index, piece in enumerate(parts) if piece.name in ("BINGET", "LONG_BINGET")]
    if gets and roll < 0.7:
        at = rng.choice(gets)
        fill = rng.choice([b"(K\x01e", b"(K\x01K\x02u", b"K\x01a", b"(K\x01\x90", b"]\x94h\x00a(K\x01e"])
        parts.insert(at + 1, snippet(b"0" + parts[at].raw + fill))
        return f"POP, fetch {parts[at].arg} again and fill it, after {at}"
    if len(gets) > 1 and roll < 0.85:
        first, second = rng.sample(gets, 2)
        parts[first], parts[second] = parts[second], parts[first]
        return f"memo references {first} and {second} swapped"
    tuples = [index for index, piece in enumerate(parts) if piece.name in ("TUPLE1", "TUPLE2", "TUPLE3")]
    if not tuples:
        return mutateOps(rng, parts)
    index = rng.choice(tuples)
    parts[index] = snippet(rng.choice([b"\x85", b"\x86", b"\x87"]))
    return f"a tuple at {index} made {parts[index].raw!r}"


def mutateSplice(rng: random.Random, parts: list[Piece], other: list[Piece]) -> str:
    """A run of another payload's opcodes (its memo references now pointing elsewhere) spliced in or over."""
    start = rng.randrange(1, len(other) - 1)
    run = other[start : start + rng.randrange(1, 12)]
    index = anyIndex(rng, parts)
    if rng.random() < 0.5:
        parts[index:index] = run
        return f"spliced {len(run)} opcodes at {index}"
    parts[index : index + len(run)] = run
    return f"overwrote {len(run)} opcodes at {index}"


Mutator = Callable[[random.Random, list[Piece], list[Piece]], str]
MUTATORS: dict[str, Mutator] = {
    "opcode": lambda rng, parts, other: mutateOpcode(rng, parts),
    "number": lambda rng, parts, other: mutateNumber(rng, parts),
    "string": lambda rng, parts, other: mutateString(rng, parts),
    "ops": lambda rng, parts, other: mutateOps(rng, parts),
    "nesting": lambda rng, parts, other: mutateNesting(rng, parts),
    "splice": mutateSplice,
    "grammar": lambda rng, parts, other: mutateGrammar(rng, parts),
}


def combined(rng: random.Random, parts: list[Piece], other: list[Piece]) -> str:
    return "; ".join(rng.choice(list(MUTATORS.values()))(rng, parts, other) for _ in range(rng.randrange(2, 5)))


KINDS: dict[str, Mutator] = {**MUTATORS, "combined": combined}


def mutants(kind: str, seeds: list[Seed]) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(f"decoder fuzz {kind}")
    for number in range(MUTANTS_PER_KIND):
        seed = seeds[number % len(seeds)]
        # Mostly without frames, so a change reaches the opcodes after it; sometimes with, for the frame lengths.
        parts = list(seed.framed if rng.random() < 0.2 else seed.unframed)
        other = rng.choice(seeds).unframed
        description = KINDS[kind](rng, parts, other)
        yield f"{kind} #{number} on {seed.name}: {description}", joined(parts)


# ---- the promise ---------------------------------------------------------------------------------------------------

SCALARS = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})
STANDARD = frozenset(
    {
        decimal.Decimal,
        fractions.Fraction,
        uuid.UUID,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        datetime.timezone,
    }
)
CLASSES: list[type] = [
    Color,
    Point,
    Pair,
    Refusal,
    enum.Enum,
    uuid.SafeUUID,
    uuid.UUID,
    fractions.Fraction,
    pathlib.PurePath,
    pathlib.PurePosixPath,
]
"""Classes a mutant names or could name: none may gain, lose or change an attribute."""
ENUMS: list[type[enum.Enum]] = [Color, uuid.SafeUUID]


def strayObject(value: Any) -> str | None:
    """The first part of a decoded value that is not data (a class, function, module, the decoder's own objects)."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        kind = type(obj)
        if kind in SCALARS or kind in STANDARD or isinstance(obj, (enum.Enum, pathlib.PurePath)):
            continue
        if kind is memoryview and isinstance(obj.obj, (bytes, bytearray)):
            continue  # READONLY_BUFFER's view of a decoded bytes or bytearray: data, if not what encode sends
        if kind in (list, tuple, set, frozenset) or (isinstance(obj, tuple) and hasattr(kind, "_fields")):
            stack.extend(obj)
        elif kind is dict:
            stack.extend(obj)
            stack.extend(obj.values())
        elif isinstance(obj, BaseException):
            stack.extend(obj.args)
            stack.extend(vars(obj).values())
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            stack.extend(vars(obj).values())
        else:
            return f"{kind.__module__}.{kind.__qualname__}"
    return None


def codecFunctions() -> Iterator[tuple[str, types.FunctionType]]:
    for name, obj in vars(codec).items():
        if isinstance(obj, types.FunctionType):
            yield name, obj
        elif isinstance(obj, type) and obj.__module__ == codec.__name__:
            for attribute, member in vars(obj).items():
                function = getattr(member, "__func__", member)
                if isinstance(function, types.FunctionType):
                    yield f"{name}.{attribute}", function


class Promise:
    """Everything a decode must leave as it was, taken once, and the checks of one decode against it."""

    def __init__(self) -> None:
        self.modules = set(sys.modules)
        self.members = {member: dict(vars(member)) for cls in ENUMS for member in cls}
        self.classes = {cls: dict(vars(cls)) for cls in CLASSES}
        self.functions = {name: (function, dict(vars(function))) for name, function in codecFunctions()}
        self.namespaces = {
            "workerlib.codec": (vars(codec), dict(vars(codec))),
            "builtins": (vars(builtins), dict(vars(builtins))),
            MODULE: (globals(), dict(globals())),
        }

    def check(self, data: bytes, decode: Callable[[bytes], Any] = codec.decode) -> list[str]:
        broken = []
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        start = time.process_time()
        value: Any = None
        try:
            value = decode(data)
        except workerlib.WorkerlibError:
            pass
        except BaseException as error:  # anything else is what this test looks for
            broken.append(f"raised {type(error).__name__}: {str(error)[:200]}")
        elapsed = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1] - base
        if elapsed > cpuBound(len(data)):
            broken.append(f"took {elapsed:.3f} s of CPU")
        if peak > memoryBound(len(data)):
            broken.append(f"allocated {peak:,} bytes")
        stray = strayObject(value)
        if stray is not None:
            broken.append(f"decoded to a value holding a {stray}")
        del value
        broken.extend(self.changes())
        return broken

    def changes(self) -> list[str]:
        found = []
        imported = set(sys.modules) - self.modules
        if imported:
            found.append(f"imported {sorted(imported)}")
            for name in imported:
                del sys.modules[name]
        for member, state in self.members.items():
            if not same(vars(member), state):
                found.append(f"changed {member!r}")
                vars(member).clear()
                vars(member).update(state)
        for cls, state in self.classes.items():
            if not same(dict(vars(cls)), state):
                found.append(f"changed the class {cls.__qualname__}")
                restoreClass(cls, state)
        for name, (function, state) in self.functions.items():
            if not same(vars(function), state):
                found.append(f"wrote into workerlib.codec.{name}.__dict__")
                vars(function).clear()
                vars(function).update(state)
        for name, (namespace, state) in self.namespaces.items():
            if not same(namespace, state):
                found.append(f"changed the globals of {name}")
                namespace.clear()
                namespace.update(state)
        return found


def same(now: Any, before: dict[str, Any]) -> bool:
    """The same keys bound to the very same objects (``==`` would take ``True`` put where ``1`` was)."""
    return bool(now.keys() == before.keys()) and all(now[key] is value for key, value in before.items())


def restoreClass(cls: type, state: dict[str, Any]) -> None:
    for name in set(vars(cls)) - set(state):
        type.__delattr__(cls, name)
    for name, value in state.items():
        if vars(cls).get(name) is not value:
            type.__setattr__(cls, name, value)


@pytest.fixture(scope="module")
def seeds() -> list[Seed]:
    return makeSeeds()


def test_every_seed_is_a_valid_payload(seeds: list[Seed]) -> None:
    # The fuzz mutates valid payloads: each seed, framed or not, decodes (so a refused mutant was refused for what
    # changed in it).
    for seed in seeds:
        codec.decode(joined(seed.framed))
        codec.decode(joined(seed.unframed))


@pytest.mark.parametrize("kind", list(KINDS))
def test_mutated_payloads_keep_the_promise(kind: str, seeds: list[Seed]) -> None:
    # Warm up first: whatever the decoder caches on first use is in place before the snapshots are taken.
    servable = []
    for seed in seeds:
        with contextlib.suppress(workerlib.WorkerlibError):
            codec.decode(joined(seed.unframed))
            servable.append(seed)
    cases = list(mutants(kind, seeds))  # made before the snapshots: seeding random imports hashlib's modules
    promise = Promise()
    failures: list[str] = []
    tracemalloc.start()
    try:
        for description, data in cases:
            broken = promise.check(data)
            if broken:
                failures.append(f"{description} ({len(data)} bytes): {'; '.join(broken)}\n    {data[:160].hex()}")
    finally:
        tracemalloc.stop()
    for seed in servable:  # and the thread keeps serving
        try:
            codec.decode(joined(seed.unframed))
        except workerlib.WorkerlibError as error:
            failures.append(f"after the mutants, the {seed.name} seed no longer decodes: {error}")
    assert not failures, f"{len(failures)} of {MUTANTS_PER_KIND} mutants broke the promise:\n" + "\n".join(
        failures[:20]
    )


# ---- parts sent as trees -------------------------------------------------------------------------------------------
# A part of a long list may come as a tree (``codec.TREE_PART``): keys the receiver presets in its unpickler's memo,
# then a pickle that memoizes nothing. The same mutations, on the pickle and on the keys, must keep the same promise.


def treeSeedValues() -> dict[str, list[Any]]:
    return {
        "records": [{"id": n, "name": f"name {n}", "score": n / 3, "tags": [f"t{n}", n]} for n in range(12)],
        "nested lists": [[n, [n, [str(n), None]]] for n in range(8)],
        "mixed": [{"pair": (n, -n), "set": {n, n + 1}, "big": 2**70 + n, "raw": b"\x00" * n} for n in range(4)],
        "two levels of keys": [{"outer": {"inner": n, "more": [n]}} for n in range(6)],
    }


@dataclasses.dataclass(frozen=True)
class TreeSeed:
    keys: list[str]
    seed: Seed


def makeTreeSeeds() -> list[TreeSeed]:
    found = []
    for name, value in treeSeedValues().items():
        payload = codec.encodePart(value)
        assert payload is not None, name
        assert payload.startswith(codec.TREE_PART), name
        keys, body = codec._treeKeys(payload)
        framed = pieces(body)
        found.append(TreeSeed(keys, Seed(name, framed, [piece for piece in framed if piece.name != "FRAME"])))
    return found


def treePart(keys: list[str], body: bytes) -> bytes:
    head = "\0".join(keys).encode("utf-8", "surrogatepass")
    return codec.TREE_PART + struct.pack("<I", len(head)) + head + body


def mutatedKeys(rng: random.Random, keys: list[str]) -> tuple[str, list[str]]:
    """Keys as a hostile sender might give them: fewer, more, other, or as they were (most often)."""
    roll = rng.random()
    if roll < 0.6 or not keys:
        return "", keys
    if roll < 0.75:
        return "; one key fewer", keys[1:]
    if roll < 0.9:
        return "; keys added", [*keys, *[rng.choice(NAMES)] * rng.randrange(1, 300)]  # past PART_KEYS at times
    return "; keys renamed", [rng.choice(NAMES) for _ in keys]


def treeMutants(kind: str, seeds: list[TreeSeed]) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(f"tree part fuzz {kind}")
    for number in range(MUTANTS_PER_KIND // 2):
        tree = seeds[number % len(seeds)]
        parts = list(tree.seed.framed if rng.random() < 0.2 else tree.seed.unframed)
        other = rng.choice(seeds).seed.unframed
        description = KINDS[kind](rng, parts, other)
        change, keys = mutatedKeys(rng, tree.keys)
        yield f"{kind} #{number} on the tree {tree.seed.name}: {description}{change}", treePart(keys, joined(parts))


def test_every_tree_seed_is_a_valid_part() -> None:
    for tree in makeTreeSeeds():
        expected = treeSeedValues()[tree.seed.name]
        assert codec.decodePart(treePart(tree.keys, joined(tree.seed.framed))) == expected
        assert codec.decodePart(treePart(tree.keys, joined(tree.seed.unframed))) == expected


@pytest.mark.parametrize("kind", list(KINDS))
def test_mutated_tree_parts_keep_the_promise(kind: str) -> None:
    trees = makeTreeSeeds()
    for tree in trees:  # warm up, as above
        codec.decodePart(treePart(tree.keys, joined(tree.seed.unframed)))
    cases = list(treeMutants(kind, trees))
    promise = Promise()
    failures: list[str] = []
    tracemalloc.start()
    try:
        for description, data in cases:
            broken = promise.check(data, codec.decodePart)
            if broken:
                failures.append(f"{description} ({len(data)} bytes): {'; '.join(broken)}\n    {data[:160].hex()}")
    finally:
        tracemalloc.stop()
    for tree in trees:
        try:
            codec.decodePart(treePart(tree.keys, joined(tree.seed.unframed)))
        except workerlib.WorkerlibError as error:
            failures.append(f"after the mutants, the tree {tree.seed.name} no longer decodes: {error}")
    assert not failures, f"{len(failures)} of {len(cases)} mutants broke the promise:\n" + "\n".join(failures[:20])
