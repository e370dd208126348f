"""How deeply a value nests, and the limit both sides hold values to.

Pyodide's C stack is small, in a worker smaller still, and several of CPython's recursive operations (pickling,
``repr``, ``==``, ``hash`` of nested tuples) do not stop in time on it: a value nested some thousands of levels deep
kills the interpreter instead of raising ``RecursionError``. So nothing deeper than :data:`NESTING_LIMIT` crosses:
the encoder measures a value before pickling it, the decoder measures every payload before unpickling it. The depth
of a scalar is 0; of a list, tuple, set, frozenset or dict (keys and values) one more than its deepest item; of an
object (dataclass, ``NamedTuple``, exception, standard value type) one more than its deepest field.

Measuring must itself be cheap and never recurse: a flat container is recognised by looking at its items' types in C,
values of built-in types only are measured by :mod:`marshal` (C, with a depth counter of its own), and anything else
by an explicit walk.
"""

from __future__ import annotations

import dataclasses
import functools
import marshal
from collections.abc import Iterable, Iterator
from typing import Any

NESTING_LIMIT = 1000
"""How deeply a value may nest to cross (see the module's docstring for how depth counts). Pyodide's stack gives
out at several thousand levels in a worker on both supported releases (measured: :doc:`/guide`)."""

SCALARS: frozenset[type] = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})
"""Types that hold no other values, for depth."""

_CONTAINERS = (list, tuple, set, frozenset)
_QUICK_VISITS = 64  # containers the quick walk looks at before handing a value to marshal
_QUICK_ITEMS = 256  # beyond this many items marshal measures faster than Python steps
_SETS = frozenset({set, frozenset})
_WALK = "walk"  # _quickWalk's answer for "measure it with the explicit walk, not marshal"


def exceeds(value: Any, limit: int = NESTING_LIMIT) -> bool:
    """Whether ``value`` nests deeper than ``limit``; never recurses, whatever the depth."""
    verdict = _quickWalk(value, limit)
    if verdict is _WALK:
        return depthOf(value, limit + 1) > limit
    if verdict is not None:
        return bool(verdict)
    slack = _marshalSlack()
    if slack is not None and limit < slack - 1:
        # marshal counts a scalar as a level and an empty container as one too, where depth counts neither; so one
        # run settles values clearly within or beyond the limit, and only those right at it get walked.
        within = _marshals(_wrapped(value, slack - limit + 1))
        if within is None:
            pass
        elif within:
            return False
        elif not _marshals(_wrapped(value, slack - limit)):
            return True
    return depthOf(value, limit + 1) > limit


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


def _quickWalk(value: Any, limit: int) -> bool | str | None:
    """The answer for the values most sent (flat, or a few containers around flat ones), else None.

    Flatness is checked in C (the types of all items at once); only containers holding other containers cost a
    Python step each, and after a few dozen of those the value goes to marshal instead, unless a set or frozenset
    was seen: marshal sorts their items by marshalling each one apart, so nested frozensets cost it twice per level.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    visits = 0
    while stack:
        obj, depth = stack.pop()
        kind = type(obj)
        if kind in SCALARS:
            continue
        if kind is not dict and kind not in _CONTAINERS:
            return None
        if kind is dict:
            items: Any = obj.values()
            keys = set(map(type, obj))
            if not SCALARS.issuperset(keys):
                return None if keys.isdisjoint(_SETS) else _WALK  # container keys: rare enough for the slow measures
        else:
            items = obj
        depth += 1
        if depth > limit:
            return True
        kinds = set(map(type, items))
        if SCALARS.issuperset(kinds):
            continue
        if not kinds.isdisjoint(_SETS) or kind in _SETS:
            return _WALK
        visits += 1
        if visits > _QUICK_VISITS or len(obj) > _QUICK_ITEMS:
            return None
        for item in items:
            if type(item) not in SCALARS:
                stack.append((item, depth))
    return False


def _marshals(value: Any) -> bool | None:
    """Whether marshal's depth counter accepts ``value``; None when marshal cannot write it at all."""
    try:
        marshal.dumps(value)
    except ValueError as error:
        return None if "unmarshallable" in str(error) else False
    return True


def _wrapped(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@functools.cache
def _marshalSlack() -> int | None:
    """How many single-item lists marshal accepts around a scalar on this interpreter (its depth counter differs by
    platform: 1999 on Linux, 1499 in Pyodide), or None when that is not above :data:`NESTING_LIMIT`."""
    low, high = 0, 10_000  # marshal refuses by its counter, so probing past the limit is safe
    while low < high:
        middle = (low + high + 1) // 2
        try:
            marshal.dumps(_wrapped(0, middle))
            low = middle
        except ValueError:
            high = middle - 1
    return low if low > NESTING_LIMIT else None
