"""Profiles a small workerlib call on both threads of a real page: where ``add(1, 2)``'s time goes.

Runs ``bench/profile.py`` (the benchmark's worker, ``cProfile`` on the main thread and in the worker) in headless
Chromium and prints, for one call at a time, 100 gathered calls and ``client.map`` of 100, the Python calls made per
round trip and the functions that take the most time on each thread. Profiling slows Python several times over: read
the shares and the counts, not the milliseconds. Run it on a quiet machine.

    .venv/bin/python tools/callprofile.py [--calls 2000] [--pyodide 0.29.5]
"""

from __future__ import annotations

import argparse
import json

from playwright.sync_api import sync_playwright

from tools import pages
from tools.bench import SPEC
from tools.browser import Console, launchChromium, waitForPage
from tools.devserver import REPOSITORY, DevServer

PROFILE = pages.PageSpec(
    "bench", main="profile.py", workers=SPEC.workers, shared=SPEC.shared, title="workerlib call profile"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls profiled per case")
    parser.add_argument("--pyodide", choices=sorted(pages.PYODIDE_RELEASES), default=pages.PYODIDE_DEFAULT)
    parser.add_argument("--lines", type=int, default=40, help="profile lines shown per thread")
    options = parser.parse_args()
    path = pages.buildPage(PROFILE, pages=REPOSITORY, built=REPOSITORY / "build" / "profile", pyodide=options.pyodide)
    with DevServer() as server, sync_playwright() as playwright:
        browser = launchChromium(playwright)
        page = browser.new_page()
        console = Console(page)
        page.goto(f"{server.origin}{path}?calls={options.calls}")
        waitForPage(page, console, "window.pageResult !== undefined", timeout=600)
        results = json.loads(page.evaluate("window.pageResult"))
        browser.close()
    micro = results.pop("micro")
    for case, found in results.items():
        print(f"==== {case}: {found['msPerCall']:.3f} ms per call under the profiler")
        for thread in ("main", "worker"):
            print(f"---- {thread}")
            print("\n".join(found[thread].splitlines()[: options.lines + 8]))
    print("==== unprofiled, main thread, microseconds per operation")
    for what, us in micro.items():
        print(f"{us:10.2f}  {what}")


if __name__ == "__main__":
    main()
