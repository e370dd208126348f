"""How deeply a value nests, and the limit both sides hold values to.

Pyodide's C stack is small, in a worker smaller still, and several of CPython's recursive operations (pickling,
``repr``, ``==``, ``hash`` of nested tuples) do not stop in time on it: a value nested some thousands of levels deep
kills the interpreter instead of raising ``RecursionError``. So nothing deeper than :data:`NESTING_LIMIT` crosses:
the encoder measures a value before pickling it, the decoder measures every payload before unpickling it (or, for a
plain payload of built-in values, the value just after). The depth of a scalar is 0; of a list, tuple, set, frozenset
or dict (keys and values) one more than its deepest item; of an object (dataclass, ``NamedTuple``, exception,
standard value type) one more than its deepest field.

What is measured is the longest path down the value, counting every way down to a shared part, not only the
shortest: ``==`` between a value and its copy, and ``repr``, recurse along every path, and the pickler along the
first it meets. A list holding links ``c1 ... c3000`` with each ``c_i = [c_{i+1}]`` is 3,001 levels deep, though
every link is two levels below the top. In a value with cycles a path ends where it would come back to a container
it passed (the pickler refers back to it there); the paths are taken in the pickler's order, so the depth is at
least how deep the pickler goes. (``repr`` of a value whose cycles cross many shared parts can still go deeper: a
path avoiding repeats is longest on a route this measure need not follow, and finding that route is NP-hard.)

Measuring must itself be cheap and never recurse. A flat container is recognised by looking at its items' types in
C. Values of built-in containers are measured a level at a time: ``gc.get_referents`` gathers all of a level's items
in one C call, without skipping a container met before, so the walk ends at the longest path. Shared parts can make
that walk exponential (``a = [b, b]``, ``b = [c, c]``...), so it has a budget of items; past it each level's
containers are made distinct, and past twice it, or past the limit (a cycle never ends), or at any other object,
:func:`depthOf` measures exactly with an explicit stack, each container once. (:mod:`marshal` has a depth counter,
but at 1,500 levels, past what a worker's stack takes with a call in progress.)
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import operator
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import kinds

NESTING_LIMIT = 500
"""How deeply a value may nest to cross: a scalar has depth 0, a container or object one more than its deepest item.

Measured in a browser worker (``tools/stackprobe.py``, Chromium, both supported Pyodide releases), CPython's own
recursion gives out first in ``==`` on nested lists, at 1,562 levels; ``repr`` at 2,312, pickling at 3,000, hashing
nested tuples at 3,375. The limit stays a third of the lowest of those."""

SCALARS = kinds.SCALARS
"""Types that hold no other values, for depth (see :mod:`~workerlib.kinds`)."""

_CONTAINERS = (list, tuple, set, frozenset)
_QUICK_VISITS = 64  # containers the quick walk looks at before measuring level by level
_QUICK_ITEMS = 256  # beyond this many items a level at a time is faster than Python steps
_BUILTIN_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_WALKED = SCALARS | _BUILTIN_CONTAINERS


LEVEL_BUDGET = 1 << 21
"""Items a level walk gathers before it makes each level's containers distinct (and, past twice that, before it
leaves the value to the exact measure): what bounds the walk on shared parts that double at every level."""


def exceeds(value: Any, limit: int = NESTING_LIMIT, budget: int = LEVEL_BUDGET) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (see the module); never recurses, whatever the depth.

    ``budget`` is how many items the level walk may gather, counting an item once per path to it, before it counts
    shared containers once a level; a caller that knows how big the value can be (a payload's length) gives less.
    """
    return _verdict(value, limit, _levels, budget)


def exceedsPlain(value: Any, budget: int, limit: int = NESTING_LIMIT) -> bool:
    """:func:`exceeds` for a value unpickled from a payload the screen found plain (built-in scalars, lists, dicts,
    sets and tuples only, see :mod:`~workerlib.screening`), with ``budget`` from the payload's length.

    Such a value needs no look at its items' types: each level is gathered from the one above in C, scalars simply
    report nothing, and the walk ends at the first empty level. The value's depth is the number of levels before
    it, or one less when the last holds no container. A value the walk cannot settle goes to :func:`depthOf`.
    """
    return _verdict(value, limit, _plainLevels, budget)


def _verdict(value: Any, limit: int, levels: Callable[[Any, int, int], bool | None], budget: int) -> bool:
    """The quick walk's answer, else the level walk's, else the exact measure's."""
    verdict = _quickWalk(value, limit)
    if verdict is None:
        verdict = levels(value, limit, budget)
    if verdict is None:
        return depthOf(value, limit + 1) > limit
    return verdict


PART_KEYS = 256
"""How many dict keys :func:`treeShape` offers a part's pickler to refer to, rather than spell out at every dict."""


@dataclasses.dataclass(frozen=True)
class TreeShape:
    """What :func:`treeShape` found in a tree of built-in values."""

    depth: int
    entries: int
    """Places in the tree: items of its lists, tuples and sets, keys and values of its dicts."""
    keys: tuple[str, ...]
    """The keys of one dict of each level (records repeat them), at most :data:`PART_KEYS`."""


def treeShape(value: Any, limit: int = NESTING_LIMIT, held: int = 0) -> TreeShape | None:
    """The shape of ``value`` when it is a tree of built-in values, found a level at a time in C; else None.

    A tree: built-in containers and scalars only, dicts keyed by strings, and no container (nor bytearray, the one
    mutable scalar) inside ``value`` held by anything but its parent: each level's containers are checked to have no
    more references than a container in a plain tree has. A shared one, a cycle, or one a variable also holds makes
    this None. So a tree's parts can be sent apart with nothing lost, and a tree's levels add up to its size: unlike
    :func:`exceeds` this needs no budget against shared parts. ``held``: how many other containers also hold each
    item of ``value`` itself (1 for a slice of a list). None too past ``limit`` levels.
    """
    if type(value) not in _BUILTIN_CONTAINERS:
        return None
    level: list[Any] = [value]
    kinds: set[type] = {type(value)}
    depth = entries = 0
    keys: dict[str, None] = {}
    baseline = _TREE_REFERENCES + held
    while True:
        depth += 1
        if depth > limit:
            return None
        size = 0
        if dict in kinds:
            size = sum(map(operator.length_hint, level))
            first = level[operator.indexOf(map(type, level), dict)]
            keys.update(dict.fromkeys(itertools.islice(first, PART_KEYS - len(keys))))
        level = gc.get_referents(*level)
        if dict in kinds and len(level) != size:
            return None  # a dict with keys other than strings, or one whose object holds its values: not here
        entries += len(level) + size
        found = _sortedOut(level, _TREE_SCALARS)
        if found is None:
            return None
        kinds, level = found  # (rebinding drops the list of all items: its references would count as sharing)
        if level and max(map(sys.getrefcount, level)) > baseline:
            return None
        if not kinds - _TREE_LEAVES:
            return TreeShape(depth, entries, tuple(keys))
        baseline = _TREE_REFERENCES


_TREE_LEAVES = frozenset({bytearray})  # checked like containers (a shared one must stay shared), yet holds nothing
_TREE_SCALARS = SCALARS - _TREE_LEAVES


def levelsDepth(value: Any, limit: int = NESTING_LIMIT, budget: int | None = None) -> int | None:
    """The depth of ``value``, made of built-in containers and scalars only, gathered a level at a time in C; None
    past ``limit`` levels, or (with ``budget``) when shared parts make the walk gather more than ``budget`` items.
    Exact for a tree (a part sent as one: see :func:`workerlib.codec.decodePart`)."""
    level: list[Any] = [value]
    count = visited = 0
    while True:
        count += 1
        if count > limit + 1:
            return None
        if budget is not None:
            # An upper bound of what the next call gathers (strings count their length too), checked before
            # gathering: one list shared a thousand times must not be gathered a thousand times over. A tree's levels
            # add up to less than its payload's length; a budget past that means shared parts, measured exactly.
            visited += sum(map(operator.length_hint, level))
            if visited > budget:
                return None
        below = gc.get_referents(*level)
        if not below:
            # The containers above the last level reach count - 1 levels down; one more if it holds containers.
            return count if not SCALARS.issuperset(map(type, level)) else count - 1
        level = below


def exceedsTree(value: Any, limit: int = NESTING_LIMIT) -> bool:
    """:func:`exceeds` for a value known to be a tree of built-in values (each container held by its parent alone,
    as a part sent as a tree is: see :func:`workerlib.codec.decodePart`): its levels add up to its size, so they are
    gathered in C with no budget, and a walk past ``limit`` levels is a deep value, never a cycle."""
    return _plainLevels(value, limit, None) is not False


def _treeReferences() -> int:
    """What ``sys.getrefcount`` reports for a container held only by its parent, as :func:`treeShape` counts it
    (it includes the level list and the call's own references, which differ between Python versions)."""
    parent: list[Any] = [[]]
    level = gc.get_referents(parent)
    return max(map(sys.getrefcount, level))


_TREE_REFERENCES = _treeReferences()


def _plainLevels(value: Any, limit: int, budget: int | None) -> bool | None:
    # Whether the level walk finds more than ``limit`` levels; None when it gives up (too deep, a cycle, the budget).
    depth = levelsDepth(value, limit, budget)
    return None if depth is None else depth > limit


def _levels(value: Any, limit: int, budget: int) -> bool | None:
    """The verdict for a value made only of built-in containers and scalars, one level at a time, in C.

    ``gc.get_referents`` gathers a whole level's items in one call (a dict's values, and its keys unless they are
    all strings, which hold nothing). No container is skipped for having been met before, so a level holds every
    container as many times as there are paths of that length to it: the walk ends at the longest path, the depth
    ``==`` and ``repr`` recurse to on shared parts (the pickler, first visits only, goes no deeper). None, for the
    exact measure, when an object other than a built-in value is met, when the walk passes ``limit`` (too deep, or
    a cycle: only the exact measure tells which), or when shared parts make it gather more than twice ``budget``.
    """
    if type(value) not in _BUILTIN_CONTAINERS:
        return None
    level: list[Any] = [value]  # this level's containers, every one a built-in container
    kinds: set[type] = {type(value)}
    depth = visited = 0
    distinct = False
    while True:
        depth += 1
        if depth > limit:
            return None
        # What the next call gathers: an item per entry, two for dicts with keys other than strings. (length_hint,
        # not len: the same for containers, and twice as fast in Pyodide.)
        size = sum(map(operator.length_hint, level))
        if visited + size > budget:
            if distinct:
                return None
            # Shared parts, or a big value: from here on each container once a level. Paths of every length still
            # count, so the walk still ends at the longest path; the budget for that is a second one.
            distinct = True
            budget += visited + size
            level = _distinct(level)
            size = sum(map(operator.length_hint, level))
        visited += size
        items = gc.get_referents(*level)
        if dict in kinds and len(items) != size and _unreported(level, kinds):
            return None
        found = _sortedOut(items)
        if found is None:
            return None
        kinds, level = found
        if not kinds:
            return False
        if distinct:
            level = _distinct(level)


def _sortedOut(items: list[Any], scalars: frozenset[type] = SCALARS) -> tuple[set[type], list[Any]] | None:
    """The container types among ``items`` (types not in ``scalars``) and the containers themselves, sorted out in C
    passes; None when an item is neither a built-in container nor a scalar."""
    types = list(map(type, items))
    present = set(types)
    if not _WALKED.issuperset(present):
        return None
    kinds = present - scalars
    if len(kinds) == len(present):
        return kinds, items  # containers only
    containers: list[Any] = []
    for kind in kinds:  # a C pass per container type present, rather than a Python step per item
        containers.extend(itertools.compress(items, map(operator.is_, types, itertools.repeat(kind))))
    return kinds, containers


def _distinct(level: list[Any]) -> list[Any]:
    """Each container of ``level`` once (a dict keyed by id, built in C)."""
    return list(dict(zip(map(id, level), level, strict=True)).values())


def _unreported(level: list[Any], kinds: set[type]) -> bool:
    """Whether a dict of ``level`` reported fewer values than it holds: ``vars(obj)`` of an object whose attributes
    the object itself holds (Python 3.13 on) reports none, the object does.

    Called when the count of what a level reported differs from its items': dicts with other keys than strings
    report their keys too. Equal counts are not checked: that would take such a dict and other dicts' keys exactly
    balancing it, in a value its own sender measures (a decoded dict is never one), which the receiver measures again.
    """
    dicts = level if kinds == {dict} else [container for container in level if type(container) is dict]
    return not all(map(operator.ge, map(len, map(gc.get_referents, dicts)), map(len, dicts)))


def depthOf(value: Any, stop: int | None = None) -> int:
    """The depth of ``value`` (see the module), exactly: the longest path down its containers and objects, each
    container's depth worked out once and reused wherever it is shared. A path never goes back up to a container it
    passed (a cycle): items are visited in the pickler's order, so the pickler's own path is one of those counted.

    With ``stop``, returns as soon as the depth reaches it. An explicit stack: Python's speed, any depth.
    """
    if type(value) in SCALARS:
        return 0
    heights: dict[int, int] = {}  # id -> depth, of containers and objects fully measured
    onPath: set[int] = {id(value)}
    held: list[Any] = [value]  # what an object's fields gave, alive until the end, so that no id is reused
    stack: list[list[Any]] = [[value, iter(children(value)), 0]]  # [container, items left, deepest item so far]
    while stack:
        frame = stack[-1]
        for child in frame[1]:
            if type(child) in SCALARS:
                continue
            key = id(child)
            height = heights.get(key)
            if height is not None:
                if height > frame[2]:
                    frame[2] = height
            elif key not in onPath:  # (a container on the path is a cycle: the pickler refers back to it)
                onPath.add(key)
                held.append(child)
                stack.append([child, iter(children(child)), 0])
                if stop is not None and len(stack) >= stop:
                    return len(stack)
                break
        else:
            stack.pop()
            onPath.discard(id(frame[0]))
            finished: int = frame[2] + 1
            heights[id(frame[0])] = finished
            if stop is not None and finished >= stop:
                return finished
            if stack and finished > stack[-1][2]:
                stack[-1][2] = finished
    return heights[id(value)]


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
        return list(itertools.chain.from_iterable(obj.items()))  # key, value, key...: the pickler's order
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
