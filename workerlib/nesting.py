"""How deeply a value nests, and the limit both sides hold values to.

Pyodide's C stack is small, in a worker smaller still, and several of CPython's recursive operations (pickling,
``repr``, ``==``, ``hash`` of nested tuples) do not stop in time on it: a value nested some thousands of levels deep
kills the interpreter instead of raising ``RecursionError``. So nothing deeper than :data:`NESTING_LIMIT` crosses:
the encoder measures a value before pickling it, the decoder measures every payload before unpickling it. The depth
of a scalar is 0; of a list, tuple, set, frozenset or dict (keys and values) one more than its deepest item; of an
object (dataclass, ``NamedTuple``, exception, standard value type) one more than its deepest field.

Measuring must itself be cheap and never recurse: a flat container is recognised by looking at its items' types in C,
values of built-in containers are measured a level at a time with C iterators, and anything else by an explicit walk.
(:mod:`marshal` has a depth counter, but at 1,500 levels, past what a worker's stack takes with a call in progress.)
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import Any

NESTING_LIMIT = 500
"""How deeply a value may nest to cross: a scalar has depth 0, a container or object one more than its deepest item.

Measured in a browser worker (``tools/stackprobe.py``, Chromium, both supported Pyodide releases), CPython's own
recursion gives out first in ``==`` on nested lists, at 1,562 levels; ``repr`` at 2,312, pickling at 3,000, hashing
nested tuples at 3,375. The limit stays a third of the lowest of those."""

SCALARS: frozenset[type] = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})
"""Types that hold no other values, for depth."""

_CONTAINERS = (list, tuple, set, frozenset)
_QUICK_VISITS = 64  # containers the quick walk looks at before measuring level by level
_QUICK_ITEMS = 256  # beyond this many items a level at a time is faster than Python steps
_BUILTIN_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_isDict = functools.partial(operator.is_, dict)
_isNotDict = functools.partial(operator.is_not, dict)


def exceeds(value: Any, limit: int = NESTING_LIMIT) -> bool:
    """Whether ``value`` nests deeper than ``limit``; never recurses, whatever the depth."""
    verdict = _quickWalk(value, limit)
    if verdict is None:
        verdict = _levels(value, limit)
    if verdict is None:
        return depthOf(value, limit + 1) > limit
    return verdict


def _levels(value: Any, limit: int) -> bool | None:
    """Depth of a value of built-in containers, one level at a time, each level's items gathered and sorted in C.

    Counts the shortest way down to each container (a container met again is not walked again), which is the
    depth for any value without shared parts. None when an object other than a built-in value is met.
    """
    level: list[Any] = [value]
    seen: set[int] = {id(value)}
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        kinds = list(map(type, level))
        present = set(kinds)
        if not _BUILTIN_CONTAINERS.issuperset(present):
            return None
        dicts = list(itertools.compress(level, map(_isDict, kinds))) if dict in present else []
        others = list(itertools.compress(level, map(_isNotDict, kinds))) if present - {dict} else []
        parts = [itertools.chain.from_iterable(others), itertools.chain.from_iterable(map(dict.values, dicts))]
        if dicts and not SCALARS.issuperset(map(type, itertools.chain.from_iterable(dicts))):
            parts.append(itertools.chain.from_iterable(dicts))  # container keys: tuples, frozensets
        children = list(itertools.chain.from_iterable(parts))
        types = list(map(type, children))
        found = set(types) - SCALARS
        if not found:
            return False
        # One pass per container type present: a C call per item, rather than three.
        level = []
        for kind in found:
            level.extend(itertools.compress(children, map(functools.partial(operator.is_, kind), types)))
        fresh = set(map(id, level))
        if len(fresh) < len(level) or not seen.isdisjoint(fresh):
            # Shared parts or a cycle: walk each container once (rare, so a Python step each is fine).
            unique = []
            for child in level:
                if id(child) not in seen:
                    seen.add(id(child))
                    unique.append(child)
            level = unique
        else:
            seen |= fresh
    return False


def depthOf(value: Any, stop: int | None = None) -> int:
    """The depth of ``value`` (see the module), counted along the path the pickler takes: first visits only.

    With ``stop``, returns as soon as the depth reaches it. An explicit stack: Python's speed, any depth.
    """
    deepest = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        obj, depth = stack.pop()
        kind = type(obj)
        if kind in SCALARS:
            deepest = max(deepest, depth)
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        depth += 1
        deepest = max(deepest, depth)
        if stop is not None and deepest >= stop:
            return deepest
        # Pushed last to first, so the first child is walked first, as the pickler does: a value shared by two
        # places then counts at the place the pickler reaches first, which is where its recursion goes deep.
        for child in reversed(list(children(obj))):
            if type(child) not in SCALARS:
                stack.append((child, depth))
    return deepest


def deepestPath(value: Any, limit: int = NESTING_LIMIT) -> str:
    """Where ``value`` first goes deeper than ``limit``, like ``[0][0]['key']...``: for error messages, so it may be
    slow. Long paths are shortened in the middle."""
    seen: set[int] = set()
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 0, ())]
    while stack:
        obj, depth, path = stack.pop()
        if type(obj) in SCALARS or id(obj) in seen:
            continue
        seen.add(id(obj))
        if depth + 1 > limit:
            return _shortened(path)
        for step, child in reversed(list(_steps(obj))):
            stack.append((child, depth + 1, (*path, step)))
    return ""


def children(obj: Any) -> Iterable[Any]:
    """What ``obj`` holds, for depth: items, keys and values, fields, an exception's args and attributes."""
    kind = type(obj)
    if kind is dict:
        return [*obj, *obj.values()]
    if kind in _CONTAINERS or isinstance(obj, tuple):
        return obj  # type: ignore[no-any-return]
    return [child for _, child in _steps(obj)]


def _steps(obj: Any) -> Iterator[tuple[str, Any]]:
    if type(obj) is dict:
        for key, item in obj.items():
            yield f"[{key!r}] (key)", key
            yield f"[{key!r}]", item
    elif isinstance(obj, (list, tuple)):
        for index, item in enumerate(obj):
            yield f"[{index}]", item
    elif isinstance(obj, (set, frozenset)):
        for item in obj:
            yield f"{{{item!r}}}", item
    elif isinstance(obj, BaseException):
        for index, item in enumerate(obj.args):
            yield f".args[{index}]", item
        for name, item in vars(obj).items():
            yield f".{name}", item
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield f".{field.name}", getattr(obj, field.name, None)


def _shortened(path: tuple[str, ...]) -> str:
    steps = [step.removesuffix(" (key)") for step in path]
    if len(steps) <= 12:
        return "".join(steps)
    return f"{''.join(steps[:6])}...({len(steps) - 12} more)...{''.join(steps[-6:])}"


def _quickWalk(value: Any, limit: int) -> bool | None:
    """The answer for the values most sent (flat, or a few containers around flat ones), else None.

    Flatness is checked in C (the types of all items at once); only containers holding other containers cost a
    Python step each, and after a few dozen of those (or at a large one) the value is measured level by level.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    visits = 0
    while stack:
        obj, depth = stack.pop()
        kind = type(obj)
        if kind in SCALARS:
            continue
        if kind not in _BUILTIN_CONTAINERS:
            return None
        items: Any = obj.values() if kind is dict else obj
        if kind is dict and not SCALARS.issuperset(map(type, obj)):
            return None  # container keys: rare enough for the slower measures
        depth += 1
        if depth > limit:
            return True
        if SCALARS.issuperset(map(type, items)):
            continue
        visits += 1
        if visits > _QUICK_VISITS or len(obj) > _QUICK_ITEMS:
            return None
        for item in items:
            if type(item) not in SCALARS:
                stack.append((item, depth))
    return False


def dismantle(value: Any) -> None:
    """Empty ``value``'s lists, dicts and sets from the top down, so that freeing it never recurses.

    CPython frees a nested list by freeing its items first, recursively; a few thousand levels of that overflow a
    worker's stack. Only for a value nobody else holds: a decoded value being refused.
    """
    stack: list[Any] = [value]
    while stack:
        obj = stack.pop()
        kind = type(obj)
        if kind is list or kind is set:
            stack.extend(obj)
            obj.clear()
        elif kind is dict:
            stack.extend(obj.values())
            obj.clear()


_kept: list[Any] = []


def keep(value: Any) -> None:
    """Keep a too-deep value that is not ours to empty (a method's result) alive for good, rather than let it be
    freed where freeing would overflow the stack. One per refusal; such values are what the limit refuses."""
    _kept.append(value)
