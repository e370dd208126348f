# mypy: disable-error-code="top-level-await"
"""Runs on the page's main thread: streams, progress callbacks, cancelling a running job, and a pool of workers.

The work is in ``main()``, awaited at the end: mypy checks ``await``, ``async for`` and ``async with`` only inside a
function (see the guide, "Type checking"). The line above lets the last line's top-level ``await`` pass.
"""

import time

import js
from primes import Primes

from workerlib import Pool, ServiceClient, diagnostics, elapsedTime

lines: list[str] = []


def show(text: str) -> None:
    """Print a line to the console and on the page."""
    print(text)
    lines.append(text)
    js.document.getElementById("output").textContent = "\n".join(lines)


async def main() -> None:
    """Stream, report progress, cancel, spread work over a pool, and report on the page whether it all added up."""
    # The annotations are what mypy infers by itself; they are written out to show what a client and a pool are.
    primes: ServiceClient[Primes] = await Primes.connect()

    # A generator method streams: each prime arrives as the worker finds it; leaving the loop stops its generator.
    found: list[int] = []
    async for prime in primes.primesBelow(10**9):
        found.append(prime)
        if len(found) == 10:
            break
    show(f"the first ten primes, streamed: {found}")

    # A function passed as an argument is called back on the main thread: progress from a sync loop in the worker.
    reports: list[int] = []
    count = await primes.count(0, 200_000, reports.append)
    show(f"{count} primes below 200,000; progress reports: {reports}")

    # Cancelling reaches the worker: a sync method that never ends is interrupted (on this cross-origin isolated page).
    show(next(line for line in diagnostics if line.startswith("sync cancellation")))
    started = time.time()
    try:
        await primes.forever().withTimeout(0.5)
    except TimeoutError:
        show(f"forever() stopped at its deadline after {elapsedTime(started)}")
    started = time.time()
    still = await primes.count(0, 100)
    show(f"and the worker answers the next call at once: {still} primes below 100, in {elapsedTime(started)}")

    # A pool: the same service in two more workers; map spreads the calls and keeps their order.
    ranges = [(start, start + 50_000) for start in range(0, 400_000, 50_000)]
    pool: Pool[Primes]
    async with await Primes.pool(2, "./primes.py") as pool:
        started = time.time()
        counts = await pool.map(Primes.countIn, ranges)
        show(f"primes per 50,000 on a pool of {pool.size}: {counts} in {elapsedTime(started)}")
    started = time.time()
    single = [await primes.countIn(bounds) for bounds in ranges]
    show(f"the same ranges one after the other on one worker: {elapsedTime(started)}")

    ok = found[:4] == [2, 3, 5, 7] and count == 17984 and still == 25 and counts == single and reports[-1] == 100
    show("example finished: OK" if ok else "example finished: WRONG RESULTS")
    js.window.exampleStatus = "ok" if ok else "failed"


await main()  # noqa: F704 - PyScript runs main scripts with top-level await
