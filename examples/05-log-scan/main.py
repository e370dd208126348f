# mypy: disable-error-code="top-level-await"
"""Runs on the page's main thread: makes a 200,000-line server log, gives it to every worker of a pool once
(``broadcast``), scans it in parts spread over the workers (``imapUnordered``) with a progress bar and the pool's
``stats()`` on the page, and shows that Cancel stops a long scan in the workers while the page stays responsive."""

import asyncio
import time
from typing import Any

import js
from logs import LEVELS, ScanReport, makeLog
from pyodide.ffi import create_proxy
from worker import LogScanner

from workerlib import Pool

LINES = 200_000
PART = 5_000
"""Lines per call: each part is one call of ``LogScanner.scan`` on whichever worker is free."""
SEED = 2026
DEEP_PASSES = 60
"""How many times over the deep scan (the Run button) reads each part: long enough to press Cancel."""
ALL_IDLE_WITHIN = 2.0
"""Seconds the workers may take to stop a cancelled scan (a sync method interrupted mid-loop) and answer again."""

CANCEL_AFTER = 3
"""Parts of the deep scan the page lets in before it presses Cancel itself, once, to show it."""

running: asyncio.Task[Any] | None = None
"""The scan the Run button started, which Cancel cancels."""
listeners: list[Any] = []
"""The button handlers handed to JavaScript, kept alive for the page's life."""


def element(name: str) -> Any:
    return js.document.getElementById(name)


def show(text: str) -> None:
    """Print a line to the console and to the page."""
    print(text)
    output = element("output")
    output.textContent = (output.textContent + "\n" + text).strip()


def showProgress(done: int, total: int, pool: Pool[LogScanner]) -> None:
    """Move the progress bar and show what the pool is doing."""
    element("progress").max = total
    element("progress").value = done
    element("progressText").textContent = f"{done} of {total} parts"
    element("stats").textContent = str(pool.stats())


async def scan(pool: Pool[LogScanner], passes: int, progress: list[int], partsIn: asyncio.Event) -> ScanReport:
    """Scan the whole log in parts, each on the first free worker, folding in each part's report as it comes."""
    starts = list(range(0, LINES, PART))
    total = ScanReport()
    showProgress(0, len(starts), pool)
    parts = pool.imapUnordered(LogScanner.scan, starts, [PART] * len(starts), [passes] * len(starts))
    async for part in parts:
        total.add(part)
        progress.append(part.lines)
        showProgress(len(progress), len(starts), pool)
        if len(progress) >= CANCEL_AFTER:
            partsIn.set()
    return total


async def runDeepScan(pool: Pool[LogScanner], partsIn: asyncio.Event) -> dict[str, Any]:
    """What the Run button does: a deep scan, until it ends or Cancel cancels it."""
    progress: list[int] = []
    js.frameWatch.start()
    began = time.monotonic()
    try:
        await scan(pool, DEEP_PASSES, progress, partsIn)
        show(f"deep scan finished in {time.monotonic() - began:.1f} s")
        return {"cancelled": False, "parts": len(progress)}
    except asyncio.CancelledError:
        stopping = time.monotonic()
        # Each worker answers once its cancelled call has stopped: a sync method, interrupted in its loop.
        answers = await asyncio.gather(*(client.lineCount() for client in pool.clients))
        stopped = time.monotonic() - stopping
        show(
            f"deep scan cancelled after {len(progress)} parts; every worker stopped and answered again in "
            f"{stopped * 1000:.0f} ms"
        )
        element("stats").textContent = str(pool.stats())
        return {"cancelled": True, "parts": len(progress), "stopped": stopped, "answers": answers}
    finally:
        show(f"worst gap between animation frames during the scan: {float(js.frameWatch.stop()):.1f} ms")


def onRun(pool: Pool[LogScanner], partsIn: asyncio.Event) -> Any:
    def run(event: Any) -> None:
        global running
        if running is None or running.done():
            partsIn.clear()
            running = asyncio.ensure_future(runDeepScan(pool, partsIn))

    return create_proxy(run)


def onCancel(event: Any) -> None:
    if running is not None and not running.done():
        running.cancel()


async def main() -> None:
    """Make the log, broadcast it, scan it, then show Cancel at work once; report whether everything agrees."""
    global running
    text = makeLog(LINES, SEED)
    show(f"made a log of {LINES:,} lines ({len(text) / 2**20:.1f} MiB)")
    # No ``async with``: the pool stays open for the page's Run and Cancel buttons as long as the page is open.
    pool: Pool[LogScanner] = await LogScanner.pool(2, "./worker.py")
    began = time.monotonic()
    loaded = await pool.broadcast(LogScanner.load, text)  # the log crosses once per worker, never per part
    show(f"broadcast the log to {len(loaded)} workers in {time.monotonic() - began:.2f} s: {loaded} lines each")

    js.frameWatch.start()
    began = time.monotonic()
    partsIn = asyncio.Event()
    report = await scan(pool, 1, [], partsIn)
    worst = float(js.frameWatch.stop())
    show(
        f"scanned {report.lines:,} lines in {time.monotonic() - began:.2f} s: "
        + ", ".join(f"{report.levels[level]:,} {level}" for level in LEVELS)
    )
    show(f"errors by service: {dict(sorted(report.errorsByService.items()))}")
    show(f"slowest requests: {', '.join(f'{ms} ms (line {line})' for ms, line in report.slowest)}")
    show(f"worst gap between animation frames during the scan: {worst:.1f} ms")
    show(f"pool: {pool.stats()}")

    # Cancel at work: the page presses its own Run button, then its Cancel button once a few parts are in.
    listeners.extend([onRun(pool, partsIn), create_proxy(onCancel)])
    element("run").addEventListener("click", listeners[0])
    element("cancel").addEventListener("click", listeners[1])
    element("run").click()
    assert running is not None
    await partsIn.wait()
    show("pressing Cancel")
    element("cancel").click()
    cancel = await running

    expected = {level: text.count(f" {level} ") for level in LEVELS}
    ok = (
        loaded == [LINES, LINES]
        and report.lines == LINES
        and report.levels == expected
        and sum(report.errorsByService.values()) == expected["ERROR"]
        and len(report.slowest) == 5
        and cancel["cancelled"]
        and CANCEL_AFTER <= cancel["parts"] < LINES // PART
        and cancel["stopped"] < ALL_IDLE_WITHIN
        and cancel["answers"] == [LINES, LINES]
        and worst > 0
    )
    show("example finished: OK" if ok else "example finished: WRONG RESULTS")
    js.window.exampleStatus = "ok" if ok else "failed"


await main()  # noqa: F704 - PyScript runs main scripts with top-level await
