"""How deeply a value nests: what is measured, and that measuring stays cheap and never recurses.

The depth that matters is how deep CPython's recursive operations go on the value: ``==`` and ``repr`` recurse along
every path, the pickler along its first visits. A value with shared parts is measured by its longest path, not its
shortest, or a DAG that looks shallow would take ``==`` thousands of levels down on the receiving side.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest

from workerlib import codec, nesting
from workerlib.nesting import NESTING_LIMIT


def chainDag(length: int, reverse: bool = False) -> list[Any]:
    """``[c1, ..., c_length]`` with ``c_i = [c_{i+1}]``: every link is an item of the root, so the shortest way down
    to each is two levels, but the path through the links is ``length`` + 1 deep. With ``reverse`` the root lists
    them last first, so the pickler (first visits) only ever goes two levels down, while ``==`` goes all the way."""
    links: list[Any] = [[0]]
    for _ in range(length - 1):
        links.append([links[-1]])
    links.reverse()  # links[0] is c1, the head of the chain
    return links[::-1] if reverse else links


@pytest.mark.parametrize("reverse", [False, True], ids=["pickler-order", "reverse-order"])
def test_a_shallow_looking_dag_is_measured_by_its_longest_path(reverse: bool) -> None:
    # Found measuring the records benchmark: a walk that visits each container once counts the shortest way down,
    # 2 here, while pickling the root (or == on a copy of it, or repr) recurses 3,000 levels: past Pyodide's stack.
    value = chainDag(3000, reverse)
    assert nesting.exceeds(value)
    assert nesting.depthOf(value) == 3001
    with pytest.raises(codec.UnsendableError, match="NESTING_LIMIT"):
        codec.encode(value)


def test_a_payload_of_a_shallow_looking_dag_is_refused() -> None:
    # The receiving side: the plain payload's value is measured after unpickling; the same DAG must be refused there.
    data = pickle.dumps(chainDag(3000, reverse=True), protocol=5)
    with pytest.raises(codec.DecodeError, match="NESTING_LIMIT"):
        codec.decode(data)


@pytest.mark.parametrize("depth", [NESTING_LIMIT - 1, NESTING_LIMIT, NESTING_LIMIT + 1])
def test_a_dag_at_the_limit_is_measured_exactly(depth: int) -> None:
    value = chainDag(depth - 1)  # the root and depth - 1 links: depth levels, the last link holding a scalar
    assert nesting.depthOf(value) == depth
    assert nesting.exceeds(value) is (depth > NESTING_LIMIT)


def doubling(levels: int) -> list[Any]:
    """``a = [b, b]``, ``b = [c, c]``...: ``levels`` + 1 levels, but 2**levels paths to the bottom."""
    value: list[Any] = [0]
    for _ in range(levels):
        value = [value, value]
    return value


def test_shared_parts_doubling_at_every_level_are_measured_quickly() -> None:
    # A walk that follows every path would take 2**60 steps: the walk gives up after a budget and measures exactly.
    start = time.perf_counter()
    assert not nesting.exceeds(doubling(60))
    assert nesting.exceeds(doubling(NESTING_LIMIT))
    assert nesting.depthOf(doubling(60)) == 61
    assert time.perf_counter() - start < 2.0


def test_one_big_list_shared_many_times_is_not_walked_once_per_reference() -> None:
    # [[row] * 1000] * 1000 with a row of 1000: a billion paths, a million cells. Walking a level at a time must not
    # gather the billion, not even for one level.
    row = [0] * 1000
    value = [[row] * 1000] * 1000
    start = time.perf_counter()
    assert not nesting.exceeds(value)
    assert time.perf_counter() - start < 2.0


def test_a_cycle_is_measured_by_the_picklers_first_visits() -> None:
    ring: list[Any] = [1]
    ring.append(ring)
    assert not nesting.exceeds(ring)
    assert nesting.depthOf(ring) == 1
    # A long cycle: the pickler goes down all of it before meeting the first link again.
    links: list[list[Any]] = [[] for _ in range(NESTING_LIMIT + 1)]
    for link, following in zip(links, links[1:] + links[:1], strict=True):
        link.append(following)
    assert nesting.exceeds(links[0])
    short = links[: NESTING_LIMIT - 1]
    short[-1][0] = short[0]
    assert not nesting.exceeds(short[0])


def test_a_cycle_beside_a_long_chain_is_measured_by_the_chain() -> None:
    # The chain in reverse order is only two levels deep by the pickler's first visits; a cycle through the root
    # must not make the measure fall back to first visits alone.
    value = chainDag(3000, reverse=True)
    value[-1].append(value)
    assert nesting.exceeds(value)


class Owner:
    def __init__(self, deep: Any = 0) -> None:
        self.deep = deep
        self.flat = 1


def test_a_dict_whose_values_its_object_holds_is_measured() -> None:
    # vars(obj) of an object with inline attributes: gc.get_referents() reports none of its values (the object
    # does), so a walk built on it must notice.
    owner = Owner(nesting_list(NESTING_LIMIT))
    assert nesting.exceeds([vars(owner)])
    assert nesting.exceeds([vars(owner), {1: 2}])  # non-str keys are reported too: the counts differ either way
    assert not nesting.exceeds([vars(Owner())])


def nesting_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {(1, (2, (3,))): "key"},
        {frozenset({(1, (2,))}): 0},
        [{1: [2]}, {"a": ({"b": 1},)}],
        [set(), frozenset(), (), {}, []],
        [[[]]],
        {"x": [1, 2, {3: {4}}]},
    ],
)
def test_the_level_walk_agrees_with_the_exact_measure(value: Any) -> None:
    depth = nesting.depthOf(value)
    for limit in (depth - 1, depth, depth + 1):
        assert nesting.exceeds(value, limit) is (depth > limit), (value, limit)


def test_a_plain_payload_sharing_one_list_many_times_decodes_quickly() -> None:
    # 10 KB of payload, a billion paths: the walk after unpickling stops at its budget (from the payload's length)
    # before gathering a level, and the exact measure counts each list once.
    row = list(range(1000))
    value = [[row] * 1000] * 1000
    data = pickle.dumps(value, protocol=5)
    assert len(data) < 20_000
    start = time.perf_counter()
    back = codec.decode(data)
    assert time.perf_counter() - start < 2.0
    assert back[999][999] is back[0][0]
    assert back[0][0] == row


def test_a_plain_payload_with_a_cycle_decodes() -> None:
    ring: list[Any] = list(range(600))
    ring.append(ring)
    back = codec.decode(pickle.dumps([ring, ring], protocol=5))
    assert back[0] is back[1]
    assert back[0][-1] is back[0]


@pytest.mark.parametrize("depth", [NESTING_LIMIT, NESTING_LIMIT + 1])
@pytest.mark.parametrize("leaf", [0, [], {}], ids=["scalar", "empty-list", "empty-dict"])
def test_the_plain_walk_is_exact_at_the_limit(depth: int, leaf: Any) -> None:
    # Its last level decides between two depths: a scalar there is no level, an empty container is one.
    value: Any = leaf
    for _ in range(depth - (0 if leaf == 0 else 1)):
        value = [value, 1, "x"]
    budget = 1 << 20
    assert nesting.exceedsPlain(value, budget) is (depth > NESTING_LIMIT)
    assert nesting.exceedsPlain([value] * 3, budget, NESTING_LIMIT + 1) is (depth + 1 > NESTING_LIMIT + 1)


def depthOfTree(value: Any, limit: int = NESTING_LIMIT, held: int = 0) -> int | None:
    shape = nesting.treeShape(value, limit, held)
    return None if shape is None else shape.depth


def test_tree_shape_measures_a_tree_of_built_in_values() -> None:
    assert depthOfTree([]) == 1
    assert depthOfTree([[1, 2], [3]]) == 2
    assert depthOfTree([{"a": [1, {"b": tuple([2])}]}]) == 5  # (2,) would be a constant the code holds too
    assert depthOfTree([{"a": {1, 2}}, frozenset({3})]) == 3
    assert depthOfTree([[bytearray(b"x")], bytearray(b"y")]) == 2  # a bytearray holds nothing
    assert depthOfTree(nesting_list(40)) == 40
    assert depthOfTree(nesting_list(40), limit=39) is None


def test_tree_shape_counts_places_and_offers_dict_keys() -> None:
    records = [{"id": n, "tags": [str(n)]} for n in range(3)]
    shape = nesting.treeShape(records)
    assert shape is not None
    assert shape.entries == 3 + 3 * (2 + 2) + 3  # three dicts, their two keys and two values, a string in each list
    assert shape.keys == ("id", "tags")
    nested = nesting.treeShape([{"a": {"b": 1}}, {"c": 2}])
    assert nested is not None
    assert len(nested.keys) == 2  # one dict's keys of each level
    assert "b" in nested.keys
    many = nesting.treeShape([{f"k{n}": n for n in range(nesting.PART_KEYS + 10)}])
    assert many is not None
    assert len(many.keys) == nesting.PART_KEYS


def test_tree_shape_gives_up_on_anything_but_a_tree_of_built_in_values() -> None:
    inner = [1]
    assert depthOfTree([inner, inner]) is None  # shared
    assert depthOfTree([[inner], {"x": inner}]) is None  # shared deeper down
    ring: list[Any] = [[]]
    ring[0].append(ring[0])
    assert depthOfTree(ring) is None  # a cycle
    assert depthOfTree([[inner]]) is None  # a variable holds a container too
    assert depthOfTree([Owner()]) is None  # an object
    assert depthOfTree([vars(Owner(nesting_list(600)))]) is None  # a dict whose object holds its values
    assert depthOfTree([{1: [2]}]) is None  # keys other than strings are reported too
    assert depthOfTree(Owner()) is None
    mutable = bytearray(b"shared")
    assert depthOfTree([[mutable], [mutable]]) is None  # a bytearray held twice keeps its identity only whole


def test_tree_shape_counts_the_other_holder_of_a_slices_items() -> None:
    whole = [[n] for n in range(10)]
    assert depthOfTree(whole) == 2
    assert depthOfTree(whole[:5]) is None  # items held by two lists, unannounced
    assert depthOfTree(whole[:5], held=1) == 2


@pytest.mark.parametrize("depth", [1, 2, NESTING_LIMIT - 1, NESTING_LIMIT, NESTING_LIMIT + 1, 3 * NESTING_LIMIT])
@pytest.mark.parametrize("leaf", [0, [], {}])
def test_exceeds_tree_is_exact_at_the_limit(depth: int, leaf: Any) -> None:
    value: Any = leaf
    for level in range(depth - (0 if leaf == 0 else 1)):
        value = [value, 1, "x"] if level % 2 else {"k": value, "n": 1}
    assert nesting.exceedsTree(value) is (depth > NESTING_LIMIT)
    assert nesting.exceedsTree(value, depth) is False
    assert nesting.exceedsTree(value, depth - 1) is True
