"""The examples run as shipped, on both Pyodide releases: the same headless run as ``make demo``, so an example cannot
rot unnoticed. Each page checks its own results (``example finished: OK``); the image tool's canvases are checked
here as well, from the pixels the page shows, and so is what the migration example prints. The run on Pyodide 314.0.2
saves a screenshot of each finished page to ``build/screenshots/<example>.png``, which ``make screenshots`` copies into
the docs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tools.demo import VIEWPORT, Canvas, ExampleRun, exampleFolder, exampleFolders, runExample, screenshotPath
from tools.devserver import REPOSITORY, DevServer
from tools.pages import PYODIDE_DEFAULT, PYODIDE_RELEASES, pyodideRelease

EXAMPLES = exampleFolders()
RELEASES = list(PYODIDE_RELEASES)
LOG_SCAN = REPOSITORY / "examples" / "05-log-scan"
IMAGE_TOOL = REPOSITORY / "examples" / "03-image-tool"
MIGRATION = REPOSITORY / "examples" / "06-migration"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

type RunExample = Callable[[Path, str], ExampleRun]


@pytest.fixture(scope="module")
def runOnce(browser: Browser, server: DevServer) -> RunExample:
    """Run an example on a Pyodide release the first time a test asks, and hand every test the same run."""
    runs: dict[tuple[Path, str], ExampleRun] = {}

    def run(example: Path, pyodide: str) -> ExampleRun:
        if (example, pyodide) not in runs:
            # One screenshot per example, from the release PyScript 0.7.31 loads by default.
            screenshot = screenshotPath(example) if pyodide == PYODIDE_DEFAULT else None
            folder = exampleFolder(example, pyodide)
            runs[example, pyodide] = runExample(browser, server.origin, folder, timeout=90, screenshot=screenshot)
        return runs[example, pyodide]

    return run


@pytest.mark.parametrize("pyodide", RELEASES, ids=lambda version: f"pyodide-{version}")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_to_ok(example: Path, pyodide: str, runOnce: RunExample, server: DevServer) -> None:
    run = runOnce(example, pyodide)
    assert run.ok, run.shown
    assert "example finished: OK" in run.shown
    assert run.interpreters == {server.origin + pyodideRelease(pyodide).url}
    # Nothing the page or its workers printed is an error or a warning, a browser's included.
    assert [line for line in run.console if line.startswith(("[error]", "[warning]", "[pageerror]"))] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_leaves_a_screenshot_of_the_finished_page(example: Path, runOnce: RunExample) -> None:
    assert runOnce(example, PYODIDE_DEFAULT).ok
    png = screenshotPath(example).read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    # The IHDR chunk comes first: width and height, big-endian, after the signature and the chunk's length and type.
    size = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert size == (VIEWPORT["width"], VIEWPORT["height"])


def luminance(red: int, green: int, blue: int) -> int:
    """The grey the image tool makes of a colour (its worker's formula, written out again to check it)."""
    return (299 * red + 587 * green + 114 * blue + 500) // 1000


def oilPainted(canvas: Canvas, radius: int) -> dict[tuple[int, int], int]:
    """The grey of each pixel of the image tool's oil paint: the most common of eight levels within ``radius``."""
    levels = {
        (x, y): luminance(*canvas.pixel(x, y)[:3]) // 32 for y in range(canvas.height) for x in range(canvas.width)
    }
    painted = {}
    for x, y in levels:
        counts = [0] * 8
        for dy in range(max(y - radius, 0), min(y + radius + 1, canvas.height)):
            for dx in range(max(x - radius, 0), min(x + radius + 1, canvas.width)):
                counts[levels[dx, dy]] += 1
        painted[x, y] = counts.index(max(counts)) * 32 + 16
    return painted


@pytest.mark.parametrize("pyodide", RELEASES, ids=lambda version: f"pyodide-{version}")
def test_image_tool_draws_the_workers_results(pyodide: str, runOnce: RunExample) -> None:
    canvases = runOnce(IMAGE_TOOL, pyodide).canvases
    source, grey, cropped, painted = (canvases[name] for name in ("source", "grey", "cropped", "painted"))
    # The painted picture: a gradient with a red disc and a green square, opaque throughout.
    assert (source.width, source.height) == (160, 120)
    assert source.pixel(60, 55) == (0xDC, 0x26, 0x26, 255)
    assert source.pixel(120, 60) == (0x16, 0xA3, 0x4A, 255)
    assert {source.pixel(x, y)[3] for y in range(source.height) for x in range(source.width)} == {255}
    # Its pixels went to the worker and came back grey, drawn from the Picture the worker returned.
    assert (grey.width, grey.height) == (160, 120)
    for y in range(source.height):
        for x in range(source.width):
            level = luminance(*source.pixel(x, y)[:3])
            assert grey.pixel(x, y) == (level, level, level, 255), (x, y)
    # The crop is the box (40, 20, 80, 80) of the picture, pixel for pixel.
    assert (cropped.width, cropped.height) == (80, 80)
    for y in range(80):
        for x in range(80):
            assert cropped.pixel(x, y) == source.pixel(40 + x, 20 + y), (x, y)
    # The oil paint of the crop with radius 2, as worked out here from the crop the page shows.
    assert (painted.width, painted.height) == (80, 80)
    for (x, y), level in oilPainted(cropped, 2).items():
        assert painted.pixel(x, y) == (level, level, level, 255), (x, y)


@pytest.mark.parametrize("pyodide", RELEASES, ids=lambda version: f"pyodide-{version}")
def test_image_tool_shows_transfer_adapter_error_and_timeout(pyodide: str, runOnce: RunExample) -> None:
    shown = runOnce(IMAGE_TOOL, pyodide).shown
    # transfer(): the 160x120 RGBA buffer moved to the worker, leaving the page's ImageData empty.
    assert "grayscale: 76800 bytes of pixels moved to the worker with transfer(); here the buffer now holds 0" in shown
    # The worker's result crossed as the page's own class, through its adapter.
    assert "grayscale(...) = <Picture 160x120>, a picture.Picture," in shown
    assert "crop(source, (40, 20, 80, 80)) = <Picture 80x80>" in shown
    # The user exception, raised in the worker, caught on the page as its own class with its attributes.
    assert (
        "crop(source, (120, 90, 80, 80)) raised OutsideError in the worker: the box (120, 90, 80, 80) (left, top, "
        "width, height) is not inside the 160x120 picture (box=(120, 90, 80, 80), size=(160, 120))"
    ) in shown
    # The deadline: TimeoutError naming the method, then the worker answers the next call.
    assert "oilPaint(source, 20) with withTimeout(0.3): TimeoutError after" in shown
    assert "and the worker serves the next call at once: oilPaint(cropped, 2) = <Picture 80x80>" in shown


WORST_FRAME_GAP_MS = 250
"""The log scan's page stays responsive: no gap between animation frames longer than this while a scan runs (one frame
is 16.7 ms; on this two-core machine, with both workers busy, the worst measured 17 to 35 ms)."""


@pytest.mark.parametrize("pyodide", RELEASES, ids=lambda version: f"pyodide-{version}")
def test_log_scan_broadcasts_scans_cancels_and_stays_responsive(pyodide: str, runOnce: RunExample) -> None:
    shown = runOnce(LOG_SCAN, pyodide).shown
    assert "broadcast the log to 2 workers in" in shown
    assert ": [200000, 200000] lines each" in shown
    assert "scanned 200,000 lines in" in shown
    assert "40 completed, 0 failed, 0 cancelled" in shown  # the stats shown: one call per part
    cancelled = re.search(
        r"deep scan cancelled after (\d+) parts; every worker stopped and answered again in (\d+) ms", shown
    )
    assert cancelled is not None, shown
    assert 3 <= int(cancelled[1]) < 40
    assert int(cancelled[2]) < 2000
    gaps = [float(gap) for gap in re.findall(r"worst gap between animation frames during the scan: ([\d.]+) ms", shown)]
    assert len(gaps) == 2, shown  # the full scan's and the cancelled deep scan's
    assert all(0 < gap < WORST_FRAME_GAP_MS for gap in gaps), gaps


@pytest.mark.parametrize("pyodide", RELEASES, ids=lambda version: f"pyodide-{version}")
def test_migration_shows_both_options_results_and_diagnostics(pyodide: str, runOnce: RunExample) -> None:
    run = runOnce(MIGRATION, pyodide)
    shown = run.shown
    # Option #1: the unchanged modules' functions, listed by the worker, their results with their own types.
    assert (
        "Option #1, existing modules served unchanged: <Worker 'legacy' exporting wordCount, topWords, shout, "
        "longest, total>"
    ) in shown
    assert "topWords(text, 2) = [('the', 3), ('dog', 2)]: a list of tuples, as returned" in shown
    assert "shout('hello', delay=0.01) = 'HELLO', from an async function" in shown
    assert "longest(lengths) = Length(4 m) and total(lengths) = Length(7.75 m)" in shown
    # Option #2: the worker module's own export() calls, and its exception caught as the same class.
    assert (
        "Option #2, a worker module calling export(): <Worker 'reports' exporting scoreSummary, histogram, ranked, "
        "topWords>"
    ) in shown
    assert "scoreSummary(scores) = (64.5, 79.75, 91.5): a tuple, not a list" in shown
    assert "histogram(scores, width=20) = {60: 2, 80: 2}: int keys kept" in shown
    assert "scoreSummary([]) raised ValueError in the worker: no scores to summarise" in shown
    assert (
        "connectToWorker() with no name: ConnectError: several workers serve exported functions ('legacy', "
        "'reports'); pass workerName= to choose one"
    ) in shown
    # The original's diagnostics, printed line by line, for the release the page ran on.
    release = pyodideRelease(pyodide)
    report = shown.split("diagnostics of the main thread:\n", 1)[1].splitlines()
    assert report[:5] == [
        "workerlib: 0.1.0 in PyScript main thread",
        "PyScript: 0.7.31",
        f"Pyodide: {release.version}",
        f"Python: {release.python}",
        f"Emscripten: {release.emscripten}",
    ]
    assert "crossOriginIsolated: yes" in report
    assert report[-1] == "example finished: OK"
    # The Option #1 worker prints its own report to the console when it starts, as the original did.
    assert "[log] workerlib: 0.1.0 in PyScript worker 'legacy'" in run.console


def test_migration_runs_without_isolation_headers(browser: Browser, plainServer: DevServer) -> None:
    """What docs/hosting.rst says of hosts that cannot set headers (GitHub Pages): the page works, calls, exceptions
    and connectToWorker included, the diagnostics say it is not isolated, and PyScript warns that its workers have
    no window proxy."""
    run = runExample(browser, plainServer.origin, MIGRATION, timeout=90)
    assert run.ok, run.shown
    report = run.shown.split("diagnostics of the main thread:\n", 1)[1].splitlines()
    assert "crossOriginIsolated: no" in report
    assert "SharedArrayBuffer: unavailable" in report
    assert (
        "sync cancellation: a running sync method runs to its end, its answer dropped (the page is not cross-origin "
        "isolated)"
    ) in report
    # PyScript's warning that a worker has no window proxy, and nothing else of the kind.
    warning = "[warning] Unable to use `window` or `document` in worker. This requires SharedArrayBuffer support."
    assert any(line.startswith(warning) for line in run.console), "\n".join(run.console)
    others = [line for line in run.console if line.startswith(("[error]", "[warning]", "[pageerror]"))]
    assert [line for line in others if not line.startswith(warning)] == []
