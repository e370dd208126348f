"""Loaded into every test page's main thread: how a page hands its results to the test that runs it."""

import json
from typing import Any

import js  # type: ignore[import-not-found]


def finish(results: dict[str, Any]) -> None:
    """Publish the page's results as JSON on ``window.pageResult``; the test harness waits for it."""
    js.window.pageResult = json.dumps(results)
