"""Deeply nested values, and the C-recursive operations on them that can overflow Pyodide's stack.

Shared by the hostile page (its margin check runs every operation at ``codec.NESTING_LIMIT``, in a worker and on the
main thread) and by ``tools/stackprobe.py`` (which finds the depth at which each one raises or kills the
interpreter). Values are built and compared without Python recursion, so only the operation itself goes deep;
``free(nested list)`` is the value's deallocation when its last reference goes, which recurses too (CPython's
trashcan defers it only near its own recursion limit, not where Pyodide's stack ends).
"""

import marshal
import pickle


def nestedList(depth, leaf=0):
    """``[[...[leaf]...]]``: ``depth`` lists, one inside the other; its nesting depth is ``depth``."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nestedTuple(depth, leaf=0):
    """``((...(leaf,)...),)``: ``depth`` tuples, one inside the other."""
    value = leaf
    for _ in range(depth):
        value = (value,)
    return value


def depthOf(value):
    """Nesting depth as workerlib's codec counts it (0 for a scalar, 1 + the deepest item for a container), without
    recursion; also reports the first scalar found at the bottom of the deepest chain."""
    deepest, leaf = 0, None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((child, depth + 1) for child in item)
            if not item:
                deepest = max(deepest, depth + 1)
        elif isinstance(item, dict):
            stack.extend((child, depth + 1) for pair in item.items() for child in pair)
            if not item:
                deepest = max(deepest, depth + 1)
        elif depth > deepest or (depth == deepest and leaf is None):
            deepest, leaf = depth, item
    return deepest, leaf


def _hashTuple(depth):
    value = nestedTuple(depth)
    return lambda: hash(value)


def _reprList(depth):
    value = nestedList(depth)
    return lambda: len(repr(value))


def _compareLists(depth):
    value, copy = nestedList(depth), nestedList(depth)
    return lambda: value == copy


def _pickleList(depth):
    value = nestedList(depth)
    return lambda: len(pickle.dumps(value, protocol=5))


def _marshalList(depth):
    value = nestedList(depth)
    return lambda: len(marshal.dumps(value))


def _freeList(depth):
    holder = [nestedList(depth)]
    return holder.clear  # drops the only reference: the list's deallocation recurses in C, level by level


OPERATIONS = {
    "hash(nested tuple)": _hashTuple,
    "repr(nested list)": _reprList,
    "nested list == copy": _compareLists,
    "pickle.dumps(nested list)": _pickleList,
    "marshal.dumps(nested list)": _marshalList,
    "free(nested list)": _freeList,
}
"""Each maker builds its value(s) for a depth and returns the operation to run on them."""


def attempt(name, depth):
    """Run one operation at ``depth``: ``"ok"``, or ``"raised Type: message"`` when it raised (a crash never returns).

    The value is built before the operation starts, so a failure to build it (``MemoryError``) is told apart.
    """
    try:
        operation = OPERATIONS[name](depth)
    except BaseException as error:
        return f"could not build: {type(error).__name__}: {str(error)[:200]}"
    try:
        operation()
    except BaseException as error:
        return f"raised {type(error).__name__}: {str(error)[:200]}"
    return "ok"
