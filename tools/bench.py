"""Runs the benchmark page headless: raw PyScript calls against workerlib calls, in the same page and run.

Builds ``bench/`` into a page the way the browser tests build theirs (:mod:`tools.pages`), serves the
repository from 127.0.0.1, runs the page in headless Chromium, prints a Markdown table and writes it with the versions
used to ``build/bench/results.json``. Exits 1 when the page fails (a wrong result included), 0 otherwise; with
``--strict``, also when a ratio misses its target.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from tools import pages
from tools.browser import Console, PageError, launchChromium, waitForPage
from tools.devserver import REPOSITORY, DevServer
from tools.pages import PageSpec, WorkerSpec

SPEC = PageSpec(
    "bench",
    workers=[WorkerSpec("bench", src="worker.py"), WorkerSpec("raw", src="raw_worker.py")],
    shared=["worker.py", "points.py"],
    title="workerlib benchmark",
)
RESULTS = REPOSITORY / "build" / "bench" / "results.json"
PROGRESS = "bench: "


def buildBenchPage(pyodide: str = pages.PYODIDE_DEFAULT) -> str:
    """Write ``build/bench/index.html`` and its configs for the sources in ``bench/``; return the page's URL path.

    This is how the browser tests build theirs (:func:`tools.pages.buildPage`: same wheels, configs and ``pagekit``),
    pointed at ``bench/`` instead of ``tests/browser/pages/``.
    """
    return pages.buildPage(SPEC, pages=REPOSITORY, built=REPOSITORY / "build", pyodide=pyodide)


class ProgressConsole(Console):
    """Collects the page's console like the tests do, and shows the page's progress lines as they come."""

    def add(self, line: str) -> None:
        super().add(line)
        if PROGRESS in line:
            print("  " + line.split(PROGRESS, 1)[1], flush=True)


def runBench(
    browser: Browser, origin: str, *, scale: float, timeout: float, pyodide: str = pages.PYODIDE_DEFAULT
) -> dict[str, Any]:
    """Open the page on Pyodide ``pyodide``, wait for ``window.pageResult`` and return what the page reported."""
    url = origin + buildBenchPage(pyodide) + (f"?scale={scale:g}" if scale != 1 else "")
    context = browser.new_context()
    try:
        page = context.new_page()
        console = ProgressConsole(page)
        print(f"opening {url} in headless Chromium {browser.version}", flush=True)
        page.goto(url)
        waitForPage(page, console, "window.pageResult !== undefined", timeout=timeout)
        results: dict[str, Any] = json.loads(page.evaluate("window.pageResult"))
        return results
    finally:
        context.close()


def npmVersion(package: str) -> str:
    manifest = REPOSITORY / "node_modules" / package / "package.json"
    return str(json.loads(manifest.read_text())["version"]) if manifest.exists() else "unknown"


def versions(page: dict[str, str], browser: Browser) -> dict[str, str]:
    """The versions the numbers belong to: what the page saw at run time, npm's manifests where it could not tell."""
    found = {
        "workerlib": page.get("workerlib", "unknown"),
        "Pyodide": page.get("Pyodide", "unknown"),
        "PyScript": page.get("PyScript", "unknown"),
        "Python": page.get("Python", "unknown"),
        "Emscripten": page.get("Emscripten", "unknown"),
        "Chromium": browser.version,
    }
    if found["PyScript"] in ("unknown", "absent"):
        found["PyScript"] = npmVersion("@pyscript/core")
    if found["Pyodide"] in ("unknown", "absent"):
        found["Pyodide"] = npmVersion("pyodide")
    return found


def table(report: dict[str, Any]) -> str:
    """The results as a Markdown table: one row per case, then the adapted objects."""
    lines = [
        "| case | raw PyScript | workerlib | workerlib / raw | target | result |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report["rows"]:
        perCall = " per call" if row["callsPerSample"] > 1 else ""
        lines.append(
            f"| {row['case']} | {row['rawMs']:.3f} ms{perCall} | {row['workerlibMs']:.3f} ms{perCall} "
            f"| {row['ratio']:.2f} | {_target(row)} | {_result(row)} |"
        )
    adapted = report["adapted"]
    lines.append(
        f"| {adapted['case']} | cannot send them | {adapted['workerlibMs']:.3f} ms "
        f"({adapted['perObjectUs']:.2f} us per object) | - | - | - |"
    )
    return "\n".join(lines)


def _target(row: dict[str, Any]) -> str:
    return "-" if row["target"] is None else f"<= {row['target']:g}"


def _result(row: dict[str, Any]) -> str:
    return "-" if row["passed"] is None else "PASS" if row["passed"] else "MISS"


def beyondTable(beyond: dict[str, Any]) -> str:
    """Pools, streams and callbacks: workerlib only (raw PyScript has none of them)."""
    met = "PASS" if beyond["speedup"] >= beyond["speedupTarget"] else "MISS"
    perAdd = beyond.get("perAddTarget", 1.0)
    return "\n".join(
        [
            "| case | workerlib | target | result |",
            "| --- | ---: | ---: | --- |",
            f"| {beyond['mapCase']}, 1 worker | {beyond['mapOneWorkerMs']:.1f} ms | - | - |",
            f"| {beyond['mapCase']}, pool of 2 | {beyond['mapTwoWorkersMs']:.1f} ms "
            f"(speed-up {beyond['speedup']:.2f}) | >= {beyond['speedupTarget']:g} | {met} |",
            f"| one stream item (of {beyond['streamItems']:,}) | {beyond['streamItemUs']:.1f} us "
            f"| <= {perAdd:g} add() | {_perAdd(beyond['streamItemUs'], beyond)} |",
            f"| one awaited callback round trip (of {beyond['callbacks']}) | {beyond['callbackRoundTripUs']:.1f} us "
            f"| <= {perAdd:g} add() | {_perAdd(beyond['callbackRoundTripUs'], beyond)} |",
            f"| for scale: one add() round trip | {beyond['addRoundTripUs']:.1f} us | - | - |",
            *_bootRows(beyond),
        ]
    )


def poolsTable(pools: dict[str, Any]) -> str:
    """Pools for real apps (issue 23): iteration in chunks and broadcasting, against one worker doing the same."""
    imapMet = "PASS" if pools["imapRatio"] <= pools["imapTarget"] else "MISS"
    broadcastMet = "PASS" if pools["broadcastRatio"] <= pools["broadcastTarget"] else "MISS"
    return "\n".join(
        [
            "| case | one worker | pool of 2 | ratio | target | result |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
            f"| {pools['tinyCase']}: one client.map vs imapUnordered, chunksize {pools['chunksize']} "
            f"| {pools['mapOneWorkerMs']:.1f} ms | {pools['imapUnorderedMs']:.1f} ms | {pools['imapRatio']:.2f} "
            f"| <= {pools['imapTarget']:g} | {imapMet} |",
            f"| {pools['broadcastCase']}: sent to one worker vs broadcast to 2 | {pools['sendToOneMs']:.1f} ms "
            f"| {pools['broadcastToTwoMs']:.1f} ms | {pools['broadcastRatio']:.2f} | <= {pools['broadcastTarget']:g} "
            f"| {broadcastMet} |",
        ]
    )


def _bootRows(beyond: dict[str, Any]) -> list[str]:
    """Starting workers until each answered a call, against raw PyScript starting as many named workers, and the
    WebAssembly memory each worker's interpreter holds."""
    boot, memory = beyond.get("bootMs"), beyond.get("workerMemoryMiB")
    if not boot or not memory:
        return []
    ratio = boot["lib2"] / boot["raw2"]
    return [
        f"| one worker started and answering: raw PyScript {boot['raw1']:.0f} ms | {boot['lib1']:.0f} ms (spawn) "
        f"| - | - |",
        f"| two workers started and answering: raw PyScript {boot['raw2']:.0f} ms | {boot['lib2']:.0f} ms (pool of 2, "
        f"{ratio:.2f} of raw) | <= 1.2 | {'PASS' if ratio <= 1.2 else 'MISS'} |",
        f"| WebAssembly memory of one worker's interpreter: raw PyScript {memory['raw1']} MiB | {memory['lib1']} MiB "
        f"| - | - |",
    ]


def _perAdd(us: float, beyond: dict[str, Any]) -> str:
    return "PASS" if us <= beyond.get("perAddTarget", 1.0) * beyond["addRoundTripUs"] else "MISS"


QUIET_LOOP_HOP_MS = 0.061
"""One trip through Pyodide's event loop on this machine when nothing else runs (PLATFORM.md): the quiet floor."""
BUSY_SHARE = 0.15
"""The share of the machine's CPU time that others may use before the benchmark refuses to start."""


def othersBusy(seconds: float = 2.0) -> float:
    """The share of all CPUs' time spent outside idle over ``seconds``, from ``/proc/stat`` (0 where there is none)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0.0

    def sample() -> tuple[int, int]:
        fields = [int(field) for field in stat.read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
        return sum(fields), idle

    total, idle = sample()
    time.sleep(seconds)  # sampling the machine's load over an interval: there is no condition to wait on
    total2, idle2 = sample()
    return 0.0 if total2 == total else 1 - (idle2 - idle) / (total2 - total)


def busyVerdict(before: float, floors: dict[str, Any] | None) -> str | None:
    """Why the numbers cannot be trusted, or None: others used the CPU before the run, or the page's own floor (one
    trip through the event loop) measured well above the quiet machine's."""
    reasons = []
    if before > BUSY_SHARE:
        reasons.append(f"{before:.0%} of the CPU was busy before the run (at most {BUSY_SHARE:.0%} is quiet)")
    hop = (floors or {}).get("loopHopMs")
    if hop is not None and hop > 2 * QUIET_LOOP_HOP_MS:
        reasons.append(f"one event-loop trip took {hop:.3f} ms (quiet: {QUIET_LOOP_HOP_MS} ms)")
    return "; ".join(reasons) or None


def breakdownTable(report: dict[str, Any]) -> str:
    """Where workerlib's time goes, from its own per-call timing (medians over the timed calls)."""
    lines = [
        "| case | measured | call total | arguments: encode, cross, decode | method | return: encode, cross, decode |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in [*report["rows"], report["adapted"]]:
        parts = row.get("workerlibBreakdownMs")
        if not parts:
            continue
        lines.append(
            f"| {row['case']} | {row['workerlibMs']:.3f} ms | {parts['total']:.3f} ms "
            f"| {parts['argumentTransfer']:.3f} ms | {parts['execution']:.3f} ms | {parts['returnTransfer']:.3f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of samples (at least 3 each)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the whole page")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    parser.add_argument(
        "--busy", action="store_true", help="run even when the machine is busy (the report is marked untrustworthy)"
    )
    parser.add_argument(
        "--pyodide",
        choices=sorted(pages.PYODIDE_RELEASES),
        default=pages.PYODIDE_DEFAULT,
        help="the Pyodide release the page runs on (default: PyScript 0.7.31's own)",
    )
    options = parser.parse_args()
    before = othersBusy()
    if before > BUSY_SHARE and not options.busy:
        print(
            f"bench: refusing to run: {before:.0%} of the CPU is busy with other work (at most {BUSY_SHARE:.0%}); "
            f"stop it (test runs, helper sessions) and run again, or pass --busy for numbers marked untrustworthy",
            file=sys.stderr,
        )
        sys.exit(3)
    with DevServer() as server, sync_playwright() as playwright:
        browser = launchChromium(playwright)
        try:
            page = runBench(
                browser, server.origin, scale=options.scale, timeout=options.timeout, pyodide=options.pyodide
            )
        except PageError as error:
            print(error, file=sys.stderr)
            sys.exit(1)
        report = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "versions": versions(page["versions"], browser),
            "crossOriginIsolated": page["crossOriginIsolated"],
            "scale": page["scale"],
            "rows": page["rows"],
            "floors": page.get("floors"),
            "beyond": page.get("beyond"),
            "pools": page.get("pools"),
            "adapted": page["adapted"],
            "busyBefore": round(before, 3),
            "untrustworthy": busyVerdict(before, page.get("floors")),
        }
        browser.close()
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(", ".join(f"{name} {version}" for name, version in report["versions"].items()))
    print()
    print(table(report))
    if any(row.get("workerlibBreakdownMs") for row in report["rows"]):
        print("\nworkerlib's own timing of its calls (Call.timing; for gather, per call, queueing included):\n")
        print(breakdownTable(report))
    floors = report["floors"]
    if floors:
        print(
            f"\nFloors of Pyodide's event loop in this page: gathering 100 coroutines that wait on futures settled at "
            f"once {floors['gather100Ms']:.3f} ms; one trip through the loop {floors['loopHopMs']:.3f} ms"
        )
    beyond = report["beyond"]
    if beyond:
        print("\n" + beyondTable(beyond))
    if report["pools"]:
        print("\n" + poolsTable(report["pools"]))
    targeted = [row for row in report["rows"] if row["target"] is not None]
    missed = [row["case"] for row in targeted if not row["passed"]]
    print(f"\n{len(targeted) - len(missed)} of {len(targeted)} targets met; results in {options.output}")
    if report["untrustworthy"]:
        print(f"\n*** UNTRUSTWORTHY: the machine was busy: {report['untrustworthy']} ***", file=sys.stderr)
    if options.strict and missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
