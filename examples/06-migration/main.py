# mypy: disable-error-code="top-level-await"
"""Runs on the page's main thread: the original workerlib's "Main configuration", unchanged, against two workers.

``connectToWorker``, ``Worker`` and ``diagnostics`` keep the original's names, so this side of a migrated page is the
code its users already wrote. What is new shows in the results: values come back as what the functions returned (a
tuple stays a tuple, a dict keeps its int keys), never as a ``JsProxy``, and a worker's exception arrives as itself.
"""

import js
import registrations  # noqa: F401 - registers the Length adapter on this thread (the original's [adapters])
from units import Length

from workerlib import ConnectError, Worker, connectToWorker, diagnostics

TEXT = "the quick brown fox jumps over the lazy dog and the dog sleeps"
SCORES = {"Ada": 91.5, "Grace": 78.0, "Alan": 64.5, "Edsger": 85.0}
LENGTHS = [Length(1.5), Length(4.0), Length(2.25)]

lines: list[str] = []


def show(text: str) -> None:
    """Print a line to the console and on the page."""
    print(text)
    lines.append(text)
    js.document.getElementById("output").textContent = "\n".join(lines)


async def main() -> None:
    """Call both workers' functions, show what came back and the diagnostics, and report whether all was right."""
    # Two workers export functions, so each is named, as the original asked on a page with several workers. A
    # Worker's functions are found when it connects, so their results are typed Any: the annotations below say what
    # each function returns.
    legacy: Worker = await connectToWorker("legacy")
    show(f"Option #1, existing modules served unchanged: {legacy!r}")
    words: int = await legacy.wordCount(TEXT)
    show(f"  wordCount(text) = {words}")
    top: list[tuple[str, int]] = await legacy.topWords(TEXT, 2)
    show(f"  topWords(text, 2) = {top!r}: a list of tuples, as returned")
    shouted: str = await legacy.shout("hello", delay=0.01)
    show(f"  shout('hello', delay=0.01) = {shouted!r}, from an async function")
    longest: Length = await legacy.longest(LENGTHS)
    total: Length = await legacy.total(LENGTHS)
    show(f"  longest(lengths) = {longest!r} and total(lengths) = {total!r}: units.Length both ways, by its adapter")
    # The original's yourWorker.worker was PyScript's object; it is yourWorker.worker.js now.
    show(f"  legacy.worker = {legacy.worker!r}; PyScript's own object is legacy.worker.js")

    reports: Worker = await connectToWorker("reports")
    show(f"Option #2, a worker module calling export(): {reports!r}")
    summary: tuple[float, float, float] = await reports.scoreSummary(list(SCORES.values()))
    show(f"  scoreSummary(scores) = {summary!r}: a {type(summary).__name__}, not a list")
    bands: dict[int, int] = await reports.histogram(list(SCORES.values()), width=20)
    show(f"  histogram(scores, width=20) = {bands!r}: int keys kept")
    order: list[str] = await reports.ranked(SCORES)
    show(f"  ranked(scores) = {order!r}")
    first: list[tuple[str, int]] = await reports.topWords(TEXT, n=1)
    show(f"  topWords(text, n=1) = {first!r}, re-exported from textstats")
    failed = ""
    try:
        await reports.scoreSummary([])
    except ValueError as error:  # raised in the worker, caught here as the same class
        show(f"  scoreSummary([]) raised ValueError in the worker: {error}")
        failed = str(error)

    try:
        await connectToWorker()
    except ConnectError as error:  # the original's rule, now a clear error: no name, several candidates
        show(f"connectToWorker() with no name: ConnectError: {str(error).split(' (found')[0]}")

    # The original's report of the platform, printed the way its README did.
    show("diagnostics of the main thread:")
    show("\n".join(diagnostics))

    ok = (
        words == 13
        and top == [("the", 3), ("dog", 2)]
        and all(type(pair) is tuple for pair in top)
        and shouted == "HELLO"
        and type(longest) is Length
        and longest == Length(4.0)
        and total == Length(7.75)
        and summary == (64.5, 79.75, 91.5)
        and type(summary) is tuple
        and bands == {60: 2, 80: 2}
        and order == ["Ada", "Edsger", "Grace", "Alan"]
        and first == [("the", 3)]
        and failed == "no scores to summarise"
        and set(legacy.functions) == {"wordCount", "topWords", "shout", "longest", "total"}
        and set(reports.functions) == {"scoreSummary", "histogram", "ranked", "topWords"}
    )
    show("example finished: OK" if ok else "example finished: WRONG RESULTS")
    js.window.exampleStatus = "ok" if ok else "failed"


await main()  # noqa: F704 - PyScript runs main scripts with top-level await
