"""Hostile and pathological input on a real page (issue 12): values nested too deep, exceptions that are not
``Exception``s or whose ``__init__`` differs from their args, a worker whose interpreter dies, and a worker that answers
with crafted bytes. Every test runs on both Pyodide releases.

One page (``pages/hostile``): four workers serve the same pathological service, so a call that kills one (as the
unprotected code does) leaves the others to the rest of the page. The page's last section has the worker answer with
crafted replies; if one kills the main thread's interpreter, a JavaScript watchdog still reports what the page found
until then, and the tests of what is missing say so. Among them are issue 20's crash, hang, depth, hashing, failure
and framing attacks, the same bytes as the unit attack suite's (``pages/hostile/attackpayloads.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from workerlib import codec

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageRun, PageSpec, WorkerSpec
from .pages.hostile import attackpayloads

pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5

HOSTILE = PageSpec(
    "hostile",
    workers=[WorkerSpec(name, src="worker_hostile.py") for name in ("hostile", "deep", "deeperror", "fatal")],
    shared=["hostile_shared.py", "stackops.py", "worker_hostile.py", "attackpayloads.py"],
    # Four workers boot at once; without the protections of issue 12, six calls wait for their 10 s deadline.
    timeout=300,
)
OPERATIONS = (
    "hash(nested tuple)",
    "repr(nested list)",
    "nested list == copy",
    "pickle.dumps(nested list)",
    "marshal.dumps(nested list)",
    "free(nested list)",
)
"""``stackops.OPERATIONS`` of the page; ``tools/stackprobe.py`` measures where each breaks."""
CRAFTED = (
    "stackGlobalOsSystem",
    "stackGlobalExec",
    "enumBuild",
    "enumBuildEqual",
    "enumBuildSNaN",
    "hangingReply",
    "emptyTupleInFrozenset",
    "exceptionChain",
    "tuplesSharingOneHash",
    "binbytes8",
    "longBinput",
    "straddlingFrame",
    "binbytes8Below2GB",
    "listsFilledAfterPop",
    "unicodeErrorOutOfRange",
    "crashingReply",
    "deepFrozenset",
    "hangingTreePart",
)
"""The crafted replies of ``worker_hostile.craftedReply`` and issue 20's (``attackpayloads.REPLIES``, the bytes
``tests/unit/test_attacks.py`` decodes), in the page's order (``worker_hostile.CRAFTED``)."""
CALL_TIMEOUT = 10.0
"""The page's deadline for calls to workers a call may kill (``main.CALL_TIMEOUT``)."""
PROMPTLY = 3.0
"""Seconds within which a call on a worker whose interpreter died must fail: well under ``CALL_TIMEOUT``."""
HEAP_GROWTH_LIMIT = 64 << 20
"""How much a crafted reply may grow the main thread's Wasm memory (which never shrinks)."""
SUMMARY_LIMIT = 10_000
"""Characters an exception's message may have when what it held could not cross."""


@pytest.fixture(scope="module")
def run(openPage: RunPage) -> PageRun:
    return openPage(HOSTILE)


@pytest.fixture(scope="module")
def page(run: PageRun) -> dict[str, Any]:
    return run.results


def section(page: dict[str, Any], name: str) -> dict[str, Any]:
    """One section of the page's results; one that raised, or that the page never reached, fails the test."""
    if name not in page:
        if "mainDied" in page:
            pytest.fail(f"the main thread's interpreter died in section {page.get('running')!r}: {page['mainDied']}")
        if name != "connect" and "sectionFailed" in page.get("connect", {}):
            pytest.fail(f"the page could not connect to its workers:\n{page['connect']['traceback']}")
        pytest.fail(f"the page has no section {name!r}")
    found: dict[str, Any] = page[name]
    if "sectionFailed" in found:
        pytest.fail(f"the page's {name!r} section raised:\n{found['traceback']}")
    return found


def error(outcome: dict[str, Any]) -> dict[str, Any]:
    assert "error" in outcome, f"expected an exception, got {outcome}"
    found: dict[str, Any] = outcome["error"]
    return found


def served(outcome: dict[str, Any]) -> None:
    """The worker answered a plain call (``ping``) after the pathological one."""
    assert isinstance(outcome.get("value"), int), f"the worker did not serve the next call: {outcome}"


def test_every_worker_connects_and_answers(page: dict[str, Any]) -> None:
    for name, outcome in section(page, "connect").items():
        assert outcome.get("value") == 1, f"worker {name!r}: {outcome}"


# ---- the nesting limit ---------------------------------------------------------------------------------------------


def test_the_nesting_limit_is_public_and_the_same_in_the_browser(page: dict[str, Any]) -> None:
    assert isinstance(page["nestingLimit"], int), "workerlib.codec.NESTING_LIMIT is missing in the browser"
    assert page["nestingLimit"] == getattr(codec, "NESTING_LIMIT", None)


@pytest.mark.parametrize("thread", ["worker", "main"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_stack_operations_survive_values_nested_to_the_limit(page: dict[str, Any], thread: str, operation: str) -> None:
    # What NESTING_LIMIT lets through, Pyodide's stack must take; tools/stackprobe.py measures the real margin.
    assert section(page, "margin")[thread][operation] == "ok"


# ---- 1. values nested too deep -------------------------------------------------------------------------------------


def test_a_value_nested_to_the_limit_arrives_intact(page: dict[str, Any]) -> None:
    found = section(page, "deepValues")["atLimit"]
    assert (found.get("type"), found.get("depth"), found.get("leaf")) == ("list", page["depth"], 0), found


def test_one_level_deeper_is_unsendable_and_the_worker_serves_on(page: dict[str, Any]) -> None:
    found = section(page, "deepValues")
    over = error(found["overLimit"])
    assert over["type"] == "UnsendableError", over
    assert {"WorkerlibError", "TypeError"} <= set(over["isinstance"])
    assert "NESTING_LIMIT" in over["message"]
    served(found["afterOver"])


def test_an_argument_nested_to_the_limit_arrives_intact(page: dict[str, Any]) -> None:
    found = section(page, "deepValues")["argsAtLimit"]
    assert found.get("value") == [page["depth"], 0], found


def test_an_argument_one_level_deeper_is_refused_before_it_is_sent(page: dict[str, Any]) -> None:
    over = error(section(page, "deepValues")["argsOverLimit"])
    assert over["type"] == "UnsendableError", over
    assert "NESTING_LIMIT" in over["message"]
    assert "args[0]" in over["message"]


def test_a_hundred_thousand_deep_value_is_unsendable_and_the_worker_serves_on(page: dict[str, Any]) -> None:
    found = section(page, "deepValues")
    tooDeep = error(found["tooDeep"])
    assert tooDeep["type"] == "UnsendableError", tooDeep
    assert "NESTING_LIMIT" in tooDeep["message"]
    assert found["tooDeep"]["seconds"] < CALL_TIMEOUT
    served(found["afterTooDeep"])


# ---- 2. an exception holding a value nested too deep ---------------------------------------------------------------


def test_an_exception_holding_a_too_deep_value_comes_back_summarised(page: dict[str, Any]) -> None:
    found = section(page, "deepError")
    raised = error(found["raised"])
    assert raised["type"] in ("RemoteError", "ValueError"), raised
    if raised["type"] == "RemoteError":
        assert raised["remoteType"] == "builtins.ValueError"
    assert raised["messageLength"] < SUMMARY_LIMIT
    served(found["after"])


# ---- 3. BaseExceptions that are not Exceptions ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "GeneratorExit"])
def test_a_base_exception_arrives_as_remote_error_and_main_goes_on(page: dict[str, Any], name: str) -> None:
    found = section(page, "baseExceptions")[name]
    raised = error(found)
    assert raised["type"] == "RemoteError", raised
    assert raised["remoteType"] == f"builtins.{name}"
    assert found["wentOn"] is True
    served(found["after"])


# ---- 4. exceptions whose __init__ differs from their args ----------------------------------------------------------


def test_an_exception_with_its_own_init_arrives_as_itself(page: dict[str, Any]) -> None:
    found = section(page, "ownInit")
    image = found["imageTooSmall"]
    assert image["caught"] is True, f"'except ImageTooSmallError' missed it: {image}"
    assert image["args"] == ["image cat.png is under 640 pixels"]
    assert (image["image"], image["minimum"]) == ("cat.png", 640)
    assert image["attributes"] == ["image", "minimum"]
    assert found["initCallsOnMain"]["ImageTooSmallError"] == 0, "decoding ran the exception's __init__"
    served(found["after"])


def test_an_exception_with_a_keyword_only_init_arrives_as_itself(page: dict[str, Any]) -> None:
    found = section(page, "ownInit")
    limit = found["limitExceeded"]
    assert limit["caught"] is True, f"'except LimitExceededError' missed it: {limit}"
    assert limit["args"] == ["width exceeds 4096"]
    assert (limit["field"], limit["limit"]) == ("width", 4096)
    assert limit["attributes"] == ["field", "limit"]
    assert found["initCallsOnMain"]["LimitExceededError"] == 0, "decoding ran the exception's __init__"


# ---- 5. a worker whose interpreter died ----------------------------------------------------------------------------


def test_calls_on_a_worker_whose_interpreter_died_fail_promptly_with_worker_closed_error(
    page: dict[str, Any],
) -> None:
    found = section(page, "killedInterpreter")
    served(found["before"])
    for step in ("killing", "next"):
        raised = error(found[step])
        assert raised["type"] == "WorkerClosedError", (step, raised)
        assert found[step]["seconds"] < PROMPTLY, (step, found[step]["seconds"])
    served(found["otherWorker"])


def test_the_worker_really_died_of_a_pyodide_fatal_error(run: PageRun) -> None:
    # Pyodide prints its fatal error, then the Python stack of the thread that died: killInterpreter's.
    console = "\n".join(run.console)
    assert "Pyodide has suffered a fatal error" in console
    assert " in killInterpreter" in console


# ---- 6. a worker answering with crafted bytes ----------------------------------------------------------------------


def test_the_page_sends_every_crafted_reply_listed_here_and_every_attack_of_issue_20(page: dict[str, Any]) -> None:
    assert tuple(page.get("craftedKinds", ())) == CRAFTED, "worker_hostile.CRAFTED and CRAFTED here differ"
    assert set(attackpayloads.REPLIES) <= set(CRAFTED), set(attackpayloads.REPLIES) - set(CRAFTED)


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_reply_is_refused_and_changes_nothing(page: dict[str, Any], kind: str) -> None:
    crafted = page.get("crafted", {})
    if kind not in crafted:
        if "mainDied" in page:
            pytest.fail(
                f"the main thread's interpreter died decoding the crafted reply {page.get('runningCrafted')!r}: "
                f"{page['mainDied']}"
            )
        section(page, "crafted")
        pytest.fail(f"the page has no outcome for {kind!r}")
    found = crafted[kind]
    raised = error(found)
    if kind in attackpayloads.FAILURES:
        # A failure reply whose exception cannot be rebuilt: the caller gets the worker's failure as a RemoteError,
        # which prints (the exception itself, raised here, crashed printing it).
        assert raised["type"] == "RemoteError", raised
        assert raised["remoteType"] == attackpayloads.FAILURES[kind], raised
        assert found["printed"], "the failure was not printed"
    else:
        assert "ProtocolError" in raised["isinstance"], raised  # DecodeError is one
    assert found["heapGrowth"] < HEAP_GROWTH_LIMIT, f"the main thread's Wasm memory grew by {found['heapGrowth']:,}"
    assert found["enumIntact"] is True, found["enumState"]
    assert found["ranCode"] is False
    served(found["after"])
