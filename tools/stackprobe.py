"""Measures how deep a nested value can go before Pyodide's stack gives out, in headless Chromium, on a real page.

For each operation of ``tests/browser/pages/hostile/stackops.py`` (``hash`` of a nested tuple; ``repr``, ``==`` with a
copy, ``pickle.dumps``, ``marshal.dumps`` and the deallocation of a nested list), on each Pyodide release the browser
tests pin, and in three places of a PyScript page, it finds the deepest nesting the operation survives and the first
depth at which it fails: either it raises (``RecursionError``, marshal's own ``ValueError``) or it kills the
interpreter (Pyodide's fatal error: a JavaScript ``RangeError``, after which PyScript's calls fail with "Pyodide
already fatally failed"). When the first failure raises, it also looks for the first crash beyond it.

The places (``--thread``): ``worker``, a function a worker exports through PyScript's own bridge; ``service``, a
workerlib service method in a worker (workerlib's channel and dispatcher below it on the stack: where a payload's
values are really decoded and used); ``main``, the main thread's top level.

A crash is fatal, so every probe runs in a fresh interpreter: a fresh worker started from the probe page for each
worker or service probe (terminated afterwards), a fresh page for each main-thread probe. The depth doubles from
``--start`` until the operation fails, then bisects until each gap is within ``--precision``.

Prints a Markdown table; the probes go to ``--out`` (``build/stackprobe/results.json``) as each series ends, and
``--resume`` measures only the series missing there, ``--table`` prints the table of what is there.

    .venv/bin/python tools/stackprobe.py                 # everything: about an hour on a 2-core machine
    .venv/bin/python tools/stackprobe.py --release 0.29.5 --thread worker --op "hash(nested tuple)"
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tools import pages
from tools.browser import launchChromium
from tools.devserver import REPOSITORY, DevServer
from tools.pages import PageSpec

TEST_PAGES = pages.REPOSITORY / "tests" / "browser" / "pages"  # the hostile test page's probes, by path
PAGE_FOLDER = TEST_PAGES / "hostile"
SPEC = PageSpec(
    "hostile", main="probe_main.py", shared=["stackops.py", "probe_service.py"], title="workerlib stack probe"
)
BUILT = REPOSITORY / "build" / "stackprobe"
RESULTS = BUILT / "results.json"
THREADS = ("worker", "service", "main")
"""Where a probe runs: a worker's function exported through PyScript's bridge, a workerlib service method in a worker
(deeper in the stack: workerlib's channel and dispatcher sit below it), the main thread's top level."""
PAGE_TIMEOUT = 120.0
"""Seconds a probe page may take to boot."""
PROBE_TIMEOUT = 600.0
"""Seconds one probe may take (the deepest values take a while to build and walk in Wasm)."""


def loadStackops() -> ModuleType:
    """The page's own ``stackops`` module (plain Python: it runs here just as well), for its operation names."""
    spec = importlib.util.spec_from_file_location("stackops", PAGE_FOLDER / "stackops.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OPERATIONS: tuple[str, ...] = tuple(loadStackops().OPERATIONS)


def nestingLimit() -> tuple[int, str]:
    """workerlib's ``codec.NESTING_LIMIT``, and where the figure comes from."""
    from workerlib import codec

    found = getattr(codec, "NESTING_LIMIT", None)
    if isinstance(found, int):
        return found, "workerlib.codec.NESTING_LIMIT"
    return 1000, "issue 12's design value (workerlib.codec has no NESTING_LIMIT yet)"


@dataclass
class Series:
    """What one operation did on one release and thread: every probe, and the brackets they found."""

    operation: str
    release: str
    thread: str
    probes: list[tuple[int, str, float]] = field(default_factory=list)
    """``(depth, outcome, seconds)`` in the order run."""
    deepestOk: int | None = None
    firstFailure: int | None = None
    failure: str = ""
    """The outcome at ``firstFailure``: ``crashed: ...`` or ``raised ...``; empty when nothing failed."""
    deepestSurvived: int | None = None
    """The deepest probe after which the interpreter lived on (it answered, or raised)."""
    firstCrash: int | None = None
    note: str = ""

    def record(self, depth: int, outcome: str) -> None:
        kind = classify(outcome)
        if kind == "ok":
            self.deepestOk = max(self.deepestOk or 0, depth)
        elif self.firstFailure is None or depth < self.firstFailure:
            self.firstFailure, self.failure = depth, outcome
        if kind == "crash":
            self.firstCrash = min(self.firstCrash or depth, depth)
        elif kind in ("ok", "raise"):
            self.deepestSurvived = max(self.deepestSurvived or 0, depth)


def classify(outcome: str) -> str:
    """``ok``, ``crash``, ``raise`` (a Python exception in the probed code), ``build`` (no stack verdict: the value
    could not be built, the worker not started, or the browser lost the page) or ``other`` (hung, or failed while
    Python lived on)."""
    if outcome == "ok":
        return "ok"
    if outcome.startswith("crashed"):
        return "crash"
    if outcome.startswith("raised"):
        return "raise"
    if outcome.startswith(("could not build", "could not start", "page lost")):
        return "build"
    return "other"


class _NoVerdict(Exception):
    pass


def search(series: Series, probe: Callable[[int], str], start: int, cap: int, precision: float, crashSpan: int) -> None:
    """Bracket the first failure (double from ``start``, or halve if it already fails) and, when that failure is an
    exception, the first crash beyond it (doubling on, up to ``crashSpan`` times deeper); then bisect both brackets
    until each gap is within ``precision`` of its lower end. Assumes what holds at a depth holds at every lower one:
    ok, then (maybe) raising, then crashing."""

    def run(depth: int) -> str:
        began = time.monotonic()
        outcome = probe(depth)
        seconds = time.monotonic() - began
        series.probes.append((depth, outcome, seconds))
        print(
            f"  {series.release:>8} {series.thread:<6} {series.operation:<27} {depth:>9,}: {outcome[:110]} "
            f"({seconds:.1f} s)",
            flush=True,
        )
        if classify(outcome) == "build":
            series.note = f"no verdict at {depth:,}: {outcome}"
            raise _NoVerdict
        series.record(depth, outcome)
        return outcome

    def bisect(low: int, high: int, isBad: Callable[[str], bool]) -> None:
        while high - low > max(1, precision * low):
            middle = (low + high) // 2
            if isBad(run(middle)):
                high = middle
            else:
                low = middle

    try:
        depth = start
        if classify(run(depth)) == "ok":
            while series.firstFailure is None and depth * 2 <= cap:
                depth *= 2
                run(depth)
        else:
            while series.deepestOk is None and depth > 1:
                depth //= 2
                run(depth)
        if series.firstFailure is None:
            series.note = f"no failure up to {depth:,} (--cap {cap:,})"
            return
        depth, limit = series.firstFailure, min(cap, series.firstFailure * crashSpan)
        while series.firstCrash is None and depth * 2 <= limit:
            depth *= 2
            run(depth)
        if series.deepestOk is not None:
            bisect(series.deepestOk, series.firstFailure, lambda outcome: classify(outcome) != "ok")
        if series.firstCrash is not None and series.deepestSurvived is not None:
            bisect(series.deepestSurvived, series.firstCrash, lambda outcome: classify(outcome) == "crash")
        elif series.firstCrash is None:
            series.note = f"no crash up to {depth:,}"
    except _NoVerdict:
        pass


class Prober:
    """One browser and server; opens the probe page on a release, in worker mode once, in main mode per probe."""

    def __init__(self, browser: Browser, origin: str) -> None:
        self.browser = browser
        self.origin = origin
        self.workerPages: dict[str, Page] = {}

    def url(self, release: str, **query: str) -> str:
        # Built beside, not over, the browser tests' built pages.
        path = pages.buildPage(SPEC, pages=TEST_PAGES, built=BUILT, pyodide=release)
        return f"{self.origin}{path}?{urllib.parse.urlencode(query)}"

    def open(self, url: str, timeout: float) -> Page:
        """A fresh context on ``url``, once its main script has reported (``window.pageResult``)."""
        page = self.browser.new_context().new_page()
        try:
            page.goto(url)
            page.wait_for_function("window.pageResult !== undefined", timeout=timeout * 1000)
        except BaseException:
            page.context.close()
            raise
        return page

    def probePage(self, release: str) -> Page:
        """The release's page in worker mode, opened once: every worker probe starts a fresh worker from it."""
        page = self.workerPages.get(release)
        if page is None:
            url = self.url(
                release,
                thread="worker",
                src=pages.url(PAGE_FOLDER / "probe_worker.py"),
                stackops=pages.url(PAGE_FOLDER / "stackops.py"),
                interpreter=pages.pyodideRelease(release).url,
            )
            page = self.workerPages[release] = self.open(url, PAGE_TIMEOUT)
        return page

    def inWorker(self, release: str, operation: str, depth: int) -> str:
        return self.evaluate(release, "probeInWorker", [operation, depth])

    def inService(self, release: str, operation: str, depth: int) -> str:
        return self.evaluate(release, "probeInService", [operation, depth, pages.url(PAGE_FOLDER / "probe_service.py")])

    def evaluate(self, release: str, function: str, args: list[object]) -> str:
        """Call ``window.<function>(...args)`` on the release's probe page and wait for its outcome (the page gives
        each probe PROBE_TIMEOUT itself). A page the browser lost (its renderer died) is opened again, once."""
        call = f"async (args) => String(await window.{function}(...args))"
        for attempt in (1, 2):
            try:
                return str(self.probePage(release).evaluate(call, args))
            except PlaywrightError as error:
                lost = self.workerPages.pop(release, None)
                if lost is not None and not lost.is_closed():
                    lost.context.close()
                if attempt == 2:
                    return f"page lost twice: {error.message.splitlines()[0][:200]}"
                print(f"  (the probe page was lost: {error.message.splitlines()[0][:120]}; opening it again)")
        raise AssertionError("unreachable")

    def onMain(self, release: str, operation: str, depth: int) -> str:
        url = self.url(release, thread="main", op=operation, depth=str(depth))
        for attempt in (1, 2):
            try:
                # The main script runs the probe before it reports: boot and probe share one deadline.
                page = self.open(url, PAGE_TIMEOUT + PROBE_TIMEOUT)
                try:
                    found = json.loads(page.evaluate("window.pageResult"))
                finally:
                    page.context.close()
                break
            except PlaywrightError as error:
                if attempt == 2:
                    return f"page lost twice: {error.message.splitlines()[0][:200]}"
                print(f"  (the probe page was lost: {error.message.splitlines()[0][:120]}; opening it again)")
        if found["outcome"] == "crashed":
            return f"crashed: {found['reason'][:120]}; then {found['check'][:120]}"
        return str(found["outcome"])

    def close(self) -> None:
        for page in self.workerPages.values():
            page.context.close()


def table(results: list[Series], limit: int) -> str:
    lines = [
        "| operation | Pyodide | thread | deepest OK | first failure | what failed | first crash "
        "| deepest OK / NESTING_LIMIT |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]

    def number(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    releases, threads = list(pages.PYODIDE_RELEASES), list(THREADS)
    order = sorted(
        results,
        key=lambda found: (
            releases.index(found.release),
            threads.index(found.thread),
            OPERATIONS.index(found.operation) if found.operation in OPERATIONS else len(OPERATIONS),
            found.operation,
        ),
    )
    for found in order:
        kind = classify(found.failure)
        what = (
            "-"
            if found.firstFailure is None
            else "interpreter killed (fatal RangeError)"
            if kind == "crash"
            else found.failure.removeprefix("raised ").split(":", 1)[0]
            if kind == "raise"
            else found.failure[:60]
        )
        crash = number(found.firstCrash)
        if found.firstCrash is None:
            crash = f"none to {max(depth for depth, _, _ in found.probes):,}" if found.probes else "-"
        margin = "-" if found.deepestOk is None else f"{found.deepestOk / limit:.1f}x"
        lines.append(
            f"| {found.operation} | {found.release} | {found.thread} | {number(found.deepestOk)} "
            f"| {number(found.firstFailure)} | {what} | {crash} | {margin} |"
        )
    return "\n".join(lines)


def load(path: Path) -> tuple[dict[str, Any], list[Series]]:
    report: dict[str, Any] = json.loads(path.read_text())
    series = [Series(**{**found, "probes": [tuple(probe) for probe in found["probes"]]}) for found in report["series"]]
    return report, series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", action="append", choices=list(pages.PYODIDE_RELEASES))
    parser.add_argument("--thread", action="append", choices=THREADS)
    parser.add_argument("--op", action="append", choices=OPERATIONS)
    parser.add_argument("--start", type=int, default=1000, help="first depth probed (default 1000)")
    parser.add_argument("--cap", type=int, default=4_096_000, help="deepest value ever built (default 4,096,000)")
    parser.add_argument("--precision", type=float, default=0.05, help="bisect until the gap is this fraction")
    parser.add_argument(
        "--crash-span", type=int, default=16, help="past a first failure that raises, look for a crash this much deeper"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument(
        "--resume", action="store_true", help="keep the series already in --out, measure only the missing ones"
    )
    parser.add_argument("--table", action="store_true", help="only print the table of --out")
    options = parser.parse_args()
    limit, source = nestingLimit()
    if options.table:
        report, done = load(options.out)
        print(f"NESTING_LIMIT = {limit} ({source}); Chromium {report['chromium']}")
        print(table(done, limit))
        return
    releases = options.release or list(pages.PYODIDE_RELEASES)
    threads = options.thread or list(THREADS)
    operations = options.op or list(OPERATIONS)
    for release in releases:
        pages.pyodideRelease(release)  # fails early, naming 'make npm', if the npm package is missing
    bounds = (options.start, options.cap, options.precision, options.crash_span)
    results = load(options.out)[1] if options.resume and options.out.exists() else []
    measured = {(found.operation, found.release, found.thread) for found in results}
    started = time.monotonic()
    with DevServer() as server, sync_playwright() as driver:
        browser = launchChromium(driver)
        chromium = browser.version

        def save() -> None:
            # After every series: a run that is stopped keeps what it measured (--resume goes on from there).
            report = {"chromium": chromium, "series": [asdict(found) for found in results]}
            options.out.parent.mkdir(parents=True, exist_ok=True)
            options.out.write_text(json.dumps(report, indent=2) + "\n")

        prober = Prober(browser, server.origin)
        try:
            for release in releases:
                for thread in threads:
                    for operation in operations:
                        if (operation, release, thread) in measured:
                            continue
                        series = Series(operation, release, thread)
                        probe = {"worker": prober.inWorker, "service": prober.inService, "main": prober.onMain}[thread]
                        search(series, functools.partial(probe, release, operation), *bounds)
                        results.append(series)
                        save()
        finally:
            prober.close()
            browser.close()
    print()
    print(f"NESTING_LIMIT = {limit} ({source}); Chromium {chromium}; {time.monotonic() - started:.0f} s")
    print(table(results, limit))
    print(f"\nwritten to {options.out}")


if __name__ == "__main__":
    main()
