"""The original workerlib's config-driven options on a real page, on every Pyodide release: its Option #1 (existing
modules' functions, the modules unchanged, exported by a worker file of ``exportFrom`` lines and reached with
``connectToWorker``), its ``[adapters]`` written as Python, and the loud refusal of an ``[adapters]`` or ``[exports]``
section that workerlib cannot read."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5

ADAPTERS_SECTION = {"shapes": ["Point", "pointEncoder", "pointDecoder"]}
ORIGINAL = PageSpec(
    "original",
    workers=[
        WorkerSpec("exports", src="exports.py", files=["usermath.py"]),
        # Migrated, but its config file still has the original's [adapters]: connecting to it says so.
        WorkerSpec("leftover", src="exports.py", files=["usermath.py"], config={"adapters": ADAPTERS_SECTION}),
    ],
    shared=["shapes.py"],
)
ORIGINAL_ADAPTERS = PageSpec("original-adapters", config={"adapters": ADAPTERS_SECTION})
EXPORTED = ["add", "mean", "slowSplit", "fail", "mirror"]


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(ORIGINAL).results


@pytest.fixture(scope="module")
def adaptersPage(openPage: RunPage) -> dict[str, Any]:
    return openPage(ORIGINAL_ADAPTERS).results


@pytest.mark.parametrize(("case", "name"), [("declared", "exports"), ("created", "created")])
def test_existing_modules_functions_are_called_through_connect_to_worker(
    page: dict[str, Any], case: str, name: str
) -> None:
    used = page[case]
    assert used["isWorker"] is True
    assert used["functions"] == EXPORTED
    assert used["add"] == 5
    assert used["addStrings"] == "ab"
    assert used["mean"] == ["Fraction", "7/3", True]
    assert used["slowSplit"] == ["tuple", ["a", "b", "c"]]  # an async function; a keyword argument
    assert used["repr"] == f"<Worker {name!r} exporting {', '.join(EXPORTED)}>"


def test_connect_to_worker_finds_the_only_worker_exporting_functions(page: dict[str, Any]) -> None:
    assert page["declaredName"] == "exports"  # the leftover worker, refused, is not counted


def test_connecting_to_a_worker_whose_config_file_has_adapters_fails_with_the_lines_to_write(
    page: dict[str, Any],
) -> None:
    failed = page["leftover"]["error"]
    assert failed["type"] == "ConfigError"
    assert failed["message"].startswith("the PyScript config of worker 'leftover' has an [adapters] section")
    assert "    adapter(Point, encode=pointEncoder, decode=pointDecoder)\n" in failed["message"]


@pytest.mark.parametrize("case", ["declared", "created"])
def test_the_originals_adapter_written_as_python_carries_a_user_class_both_ways(
    page: dict[str, Any], case: str
) -> None:
    assert page[case]["mirror"] == ["Point", 2, 1]


@pytest.mark.parametrize("case", ["declared", "created"])
def test_an_exported_functions_exception_and_an_unexported_name(page: dict[str, Any], case: str) -> None:
    used = page[case]
    assert used["fail"]["error"]["type"] == "LookupError"
    assert used["fail"]["error"]["message"] == "no such key"
    unknown = used["unknown"]["error"]
    assert unknown["type"] == "AttributeError"
    assert unknown["message"].endswith(f"exports no function 'LIMIT'; it exports {', '.join(EXPORTED)}")


def test_two_exporting_workers_need_a_name(page: dict[str, Any]) -> None:
    error = page["ambiguous"]["error"]
    assert error["type"] == "ConnectError"
    assert error["message"].startswith("several workers serve exported functions ('exports', 'created')")


def test_an_inline_worker_config_with_exports_fails_importing_workerlib_with_the_lines_to_write(
    page: dict[str, Any],
) -> None:
    failed = page["inlineExports"]
    assert failed["type"] == "ConfigError"
    assert failed["message"].startswith("this worker's PyScript config has an [exports] section")
    assert '    from workerlib import exportFrom\n    exportFrom("usermath", "add", "mean")\n' in failed["message"]


def test_the_main_threads_adapters_section_reaches_python_and_fails_importing_workerlib(
    adaptersPage: dict[str, Any],
) -> None:
    assert adaptersPage["configSection"] == ADAPTERS_SECTION
    failed = adaptersPage["mainImport"]
    assert failed["type"] == "ConfigError"
    assert failed["module"] == "workerlib.errors"
    assert failed["message"].startswith("the main thread's PyScript config has an [adapters] section")
    assert (
        "    from workerlib import adapter\n"
        "    from shapes import Point, pointEncoder, pointDecoder\n"
        "    adapter(Point, encode=pointEncoder, decode=pointDecoder)\n"
    ) in failed["message"]


def test_a_workers_inline_adapters_section_fails_importing_workerlib_there_too(adaptersPage: dict[str, Any]) -> None:
    failed = adaptersPage["workerImport"]
    assert failed["type"] == "ConfigError"
    assert failed["message"].startswith("this worker's PyScript config has an [adapters] section")
    assert "    adapter(Point, encode=pointEncoder, decode=pointDecoder)\n" in failed["message"]
