"""Issue 4, "values cross intact", end to end: real PyScript pages, a real Pyodide worker.

The values page (``pages/values/main.py``) sends every kind of value the issue lists as a positional argument, as a
keyword argument, has the worker build it and return it, and round-trips it; it compares exactly on the receiving side
(``values_shared.difference``: exact types, recursively, dict order, NaN and -0.0 bit for bit) and reports the first
difference or ``None``. The same page checks shared references and cycles, sync adapters, the errors, crafted pickles
handed straight to the worker's dispatcher, and large data. Async adapters have a page of their own
(``main_async.py``, same worker).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

SHARED = [
    "values_shared.py",
    "values_async.py",
    "values_worker_only.py",
    "values_main_only.py",
    "pagecheck.py",
]
VALUES = PageSpec("values", workers=[WorkerSpec("values")], shared=SHARED, title="values cross intact")
ASYNC_VALUES = PageSpec(
    "values", main="main_async.py", workers=[WorkerSpec("values")], shared=SHARED, title="async adapters"
)

TYPE_NAMES = [
    "None",
    "bool-true",
    "bool-false",
    "int-zero",
    "int-negative",
    "int-beyond-2**53",
    "int-negative-huge",
    "int-10**1000",
    "float",
    "float-inf",
    "float-negative-inf",
    "float-nan",
    "float-negative-zero",
    "float-subnormal",
    "complex",
    "complex-special",
    "str-empty",
    "str-unicode",
    "str-nul",
    "str-lone-surrogate",
    "bytes",
    "bytes-empty",
    "bytearray",
    "list",
    "list-empty",
    "tuple",
    "tuple-empty",
    "set",
    "set-empty",
    "frozenset",
    "frozenset-empty",
    "dict-key-order",
    "dict-empty",
    "dict-hashable-keys",
    "nested",
    "datetime-naive",
    "datetime-aware",
    "datetime-utc",
    "datetime-fold",
    "date",
    "time-naive",
    "time-aware",
    "timedelta",
    "timedelta-negative",
    "timezone-utc",
    "timezone-offset",
    "timezone-named",
    "decimal",
    "decimal-trailing-zero",
    "decimal-nan",
    "decimal-negative-infinity",
    "fraction",
    "uuid",
    "purepath-posix",
    "purepath-windows",
    "purepath-relative",
    "enum",
    "enum-int",
    "enum-flag",
    "enum-str",
    "dataclass",
    "dataclass-frozen",
    "dataclass-nested",
    "namedtuple",
    "namedtuple-default",
    "namedtuple-nested",
]
ASYNC_NAMES = ["money", "temperature", "interval", "reading", "wallet", "nested", "many"]
DIRECTIONS = ["argument", "keyword", "returned", "echo"]
"""argument/keyword: sent to the worker, compared there; returned: built by the worker, compared on main; echo: both."""

CRAFTED = [
    "os.system",
    "posix.system",
    "builtins.eval",
    "builtins.exec",
    "subprocess.Popen",
    "importlib.import_module",
    "builtins.__import__",
    "module-not-imported",
    "object.__subclasses__",
    "eval-inside-a-valid-request",
    "enum-member-tampering",
    "set-class-attribute",
]
LARGE = ["ints-1M", "bytes-10MB", "records-10k"]
UNSENDABLE_END = "Opaque; register an adapter with @adapter(Opaque)"


pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(VALUES).results


@pytest.fixture(scope="module")
def asyncPage(openPage: RunPage) -> dict[str, Any]:
    return openPage(ASYNC_VALUES).results


def value(outcome: dict[str, Any]) -> Any:
    assert "error" not in outcome, f"expected a value, got {outcome}"
    return outcome["value"]


def error(outcome: dict[str, Any]) -> dict[str, Any]:
    assert "error" in outcome, f"expected an error, got {outcome}"
    found: dict[str, Any] = outcome["error"]
    return found


def assertExact(outcome: dict[str, Any]) -> None:
    """A check's outcome: compared without error and without difference."""
    compared = value(outcome) if "value" in outcome else outcome
    assert "error" not in compared, f"failed: {compared}"
    assert compared["difference"] is None, compared["difference"]


# ---- every type ----------------------------------------------------------------------------------------------------


def test_the_page_checked_every_listed_type(page: dict[str, Any]) -> None:
    assert page["names"] == TYPE_NAMES


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", TYPE_NAMES)
def test_value_crosses_with_its_exact_type(page: dict[str, Any], name: str, direction: str) -> None:
    assertExact(page["types"][name][direction])


@pytest.mark.parametrize("direction", ["returned", "echo"])
def test_the_whole_catalog_crosses_as_one_value(page: dict[str, Any], direction: str) -> None:
    assertExact(page["wholeCatalog"][direction])


def test_memoryview_crosses_as_bytes(page: dict[str, Any]) -> None:
    seen = page["memoryview"]
    assert value(seen["workerTypes"]) == [["bytes"], {"keyword": "bytes"}]
    assertExact(seen["echo"])
    assertExact(seen["nested"])


# ---- shared references and cycles ----------------------------------------------------------------------------------

STRUCTURES = ["pair", "cycle", "dict-cycle", "dataclass-cycle", "adapted-pair"]


@pytest.mark.parametrize("structure", STRUCTURES)
def test_shared_references_and_cycles_reach_the_worker(page: dict[str, Any], structure: str) -> None:
    assert value(page["sharing"]["argument"][structure]) is True


@pytest.mark.parametrize("structure", STRUCTURES)
def test_shared_references_and_cycles_come_back(page: dict[str, Any], structure: str) -> None:
    assert value(page["sharing"]["echo"][structure]) is True


def test_shared_references_and_cycles_built_by_the_worker(page: dict[str, Any]) -> None:
    assert value(page["sharing"]["returned"]) is True


def test_one_object_passed_as_several_arguments_stays_one_object(page: dict[str, Any]) -> None:
    assert value(page["sharing"]["acrossArguments"]) is True


# ---- sync adapters -------------------------------------------------------------------------------------------------

ADAPTED: dict[str, tuple[list[str], dict[str, int]]] = {
    # case: (the type the worker received, the adapter functions that ran on each side during one round trip)
    "vector": (["Vector"], {"Vector.encode": 1, "Vector.decode": 1}),
    "segment": (["Segment"], {"Segment.encode": 1, "Segment.decode": 1, "Vector.encode": 2, "Vector.decode": 2}),
    "stamp": (["Stamp"], {"Stamp.encode": 1, "Stamp.decode": 1}),
    "mood": (["Mood"], {"Mood.encode": 1}),
    "userId": (["UserId"], {}),
    "tag": (["Tag"], {"Tag.encode": 1, "Tag.decode": 1}),
    "celsius": (["Celsius"], {}),
    "circle": (["Circle"], {}),
    "square": (["Shape"], {}),  # no adapter of its own: Shape's, registered after Circle's, matches it
    "dog": (["Animal"], {}),  # Dog's adapter is shadowed by Animal's, registered first
    "containers": (["dict"], {}),
}


@pytest.mark.parametrize("case", list(ADAPTED))
def test_adapted_values_round_trip(page: dict[str, Any], case: str) -> None:
    assertExact(page["adapters"][case]["echo"])


@pytest.mark.parametrize("case", list(ADAPTED))
def test_adapted_values_reach_the_worker_as_their_class(page: dict[str, Any], case: str) -> None:
    received, _ = ADAPTED[case]
    assert value(page["adapters"][case]["workerTypes"]) == [received, {}]


@pytest.mark.parametrize("case", [case for case, (_, calls) in ADAPTED.items() if calls])
def test_the_adapter_ran_on_both_sides(page: dict[str, Any], case: str) -> None:
    # Stamp is a dataclass and Mood an Enum, which would cross natively: the counts prove the adapter took precedence.
    _, calls = ADAPTED[case]
    entry = page["adapters"][case]
    assert entry["mainCalls"] == calls
    assert entry["workerCalls"] == calls


def test_adapters_apply_inside_containers_and_as_dict_keys(page: dict[str, Any]) -> None:
    entry = page["adapters"]["containers"]
    assertExact(entry["echo"])
    for function in ("Vector.encode", "Segment.encode", "Stamp.encode", "Mood.encode", "Tag.encode"):
        assert entry["mainCalls"].get(function, 0) >= 1, function
        assert entry["workerCalls"].get(function, 0) >= 1, function


def test_adapter_without_encode_decodes_on_arrival(page: dict[str, Any]) -> None:
    assert value(page["checked"]["argument"]) == ["worker"]
    assertExact(page["checked"]["echo"])  # decoded once in the worker, once back on main


def test_adapters_apply_to_args_kwargs_and_return_values(page: dict[str, Any]) -> None:
    received = value(page["places"]["arguments"])
    assert received == [["Vector", "Stamp"], {"tag": "Tag", "mood": "Mood", "nested": "list"}]
    assertExact(page["places"]["returned"])


@pytest.mark.parametrize("side", ["main", "worker"])
def test_registering_a_subclass_after_its_superclass_warns(page: dict[str, Any], side: str) -> None:
    warnings = page["shadowWarnings"][side]
    if side == "worker":
        warnings = value(warnings)
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert warning["category"] == "AdapterShadowedWarning"
    assert warning["isAdapterShadowedWarning"] is True
    assert "Dog" in warning["message"]
    assert "Animal" in warning["message"]


# ---- errors --------------------------------------------------------------------------------------------------------


def test_unsendable_argument_is_refused_before_sending(page: dict[str, Any]) -> None:
    found = error(page["errors"]["argument"])
    assert found["type"] == "UnsendableError"
    assert found["isTypeError"] is True
    assert found["message"].startswith("args[1]['points'][3]: cannot send "), found["message"]
    assert found["message"].endswith(UNSENDABLE_END), found["message"]
    assert page["errors"]["receivedDuring"] == 0, "the worker received a call whose arguments could not be sent"


def test_unsendable_keyword_argument_is_refused_before_sending(page: dict[str, Any]) -> None:
    found = error(page["errors"]["keyword"])
    assert found["type"] == "UnsendableError"
    assert found["isTypeError"] is True
    assert found["message"].startswith("kwargs['x']['deep'][0]: cannot send "), found["message"]
    assert found["message"].endswith(UNSENDABLE_END), found["message"]


def test_unsendable_return_value_reaches_main_and_the_worker_keeps_serving(page: dict[str, Any]) -> None:
    found = error(page["errors"]["returned"])
    assert found["type"] == "UnsendableError"
    assert found["isTypeError"] is True
    assert found["message"].startswith("return value['bad'][1]: cannot send "), found["message"]
    assert found["message"].endswith(UNSENDABLE_END), found["message"]
    assert value(page["errors"]["afterReturned"]) == "still serving 1"


def test_main_without_the_workers_adapter_names_it_and_its_module(page: dict[str, Any]) -> None:
    found = error(page["errors"]["missingOnMain"])
    assert found["type"] == "DecodeError"
    assert "values_shared.Secret" in found["message"]
    assert "values_worker_only" in found["message"], "the message should name the module to import"
    assert value(page["errors"]["afterMissingOnMain"]) == "still serving 2"


def test_worker_without_mains_adapter_names_it_and_its_module(page: dict[str, Any]) -> None:
    found = error(page["errors"]["missingOnWorker"])
    assert found["type"] == "DecodeError"
    assert "values_shared.Token" in found["message"]
    assert "values_main_only" in found["message"], "the message should name the module to import"
    assert value(page["errors"]["afterMissingOnWorker"]) == "still serving 3"


# ---- crafted payloads ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_payload_is_refused_by_the_decoder(page: dict[str, Any], name: str) -> None:
    entry = page["crafted"][name]
    assert "building" not in entry, entry
    reply = value(entry["reply"])
    assert reply["ok"] is False, f"the dispatcher ran a crafted payload: {reply}"
    assert reply["typeName"].endswith("DecodeError"), reply
    # Refused by the screen (an opcode or a protocol workerlib never sends) or by the class lookup.
    assert re.search(r"refusing|not imported|has no|not a protocol 5 pickle", reply["message"]), reply["message"]
    assert value(entry["stillServing"]) == name


def test_the_injected_request_is_valid_without_the_injection(page: dict[str, Any]) -> None:
    # Control for eval-inside-a-valid-request: the same request with a harmless string where eval went is served.
    assert value(page["crafted"]["injectionControl"]) == {"ok": True, "value": "'harmless'"}


def test_crafted_payloads_left_no_trace_in_the_worker(page: dict[str, Any]) -> None:
    before = value(page["crafted"]["evidenceBefore"])
    after = value(page["crafted"]["evidenceAfter"])
    assert before["builtins"] == []
    assert after["builtins"] == [], "eval or exec ran in the worker"
    for module in ("colorsys", "this"):
        assert module not in before["modules"], f"{module} was imported before the test: pick another module"
        assert module not in after["modules"], f"a crafted payload imported {module}"
    assert after["pointPwned"] is False, "a crafted payload set an attribute on the class values_shared.Point"
    assert after["colorRed"] == [1, "RED", False], "a crafted payload changed the member Color.RED"


# ---- large data ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LARGE)
def test_large_values_round_trip(page: dict[str, Any], name: str) -> None:
    entry = page["large"][name]
    assertExact(entry["echo"])
    assertExact(entry["argument"])
    assertExact(entry["returned"])


def test_ten_megabytes_arrive_byte_for_byte(page: dict[str, Any]) -> None:
    summary = page["large"]["bytes-10MB"]["summary"]
    assert value(summary["worker"]) == summary["main"]


# ---- async adapters ------------------------------------------------------------------------------------------------


def test_the_async_page_checked_every_listed_value(asyncPage: dict[str, Any]) -> None:
    assert asyncPage["names"] == ASYNC_NAMES


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", ASYNC_NAMES)
def test_async_adapted_value_crosses(asyncPage: dict[str, Any], name: str, direction: str) -> None:
    assertExact(asyncPage["types"][name][direction])


@pytest.mark.parametrize("direction", ["returned", "echo"])
def test_async_adapted_values_cross_as_one_value(asyncPage: dict[str, Any], direction: str) -> None:
    assertExact(asyncPage["wholeCatalog"][direction])


def test_async_adapters_apply_to_args_kwargs_and_return_values(asyncPage: dict[str, Any]) -> None:
    received = value(asyncPage["places"]["arguments"])
    assert received == [["Money", "list"], {"wallet": "Wallet"}]
    assertExact(asyncPage["places"]["returned"])


@pytest.mark.parametrize("side", ["main", "worker"])
def test_async_adapter_functions_were_awaited_on_both_sides(asyncPage: dict[str, Any], side: str) -> None:
    calls = asyncPage["calls"][side]
    for function in (
        "Money.encode",
        "Money.decode",
        "Temperature.encode",
        "Temperature.decode",
        "Interval.encode",
        "Interval.decode",
        "Reading.encode",
    ):
        assert calls.get(function, 0) > 0, f"{function} never completed on {side}: {calls}"
    assert value(asyncPage["alive"]) == "still serving"
