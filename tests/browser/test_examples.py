"""The examples run as shipped: the same headless run as ``make demo``, so an example cannot rot unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tools.demo import runExample
from tools.devserver import REPOSITORY, DevServer

EXAMPLES = sorted(path for path in (REPOSITORY / "examples").iterdir() if (path / "index.html").exists())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_to_ok(
    example: Path, browser: Browser, server: DevServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runExample(browser, server.origin, example, timeout=90)
    assert "example finished: OK" in capsys.readouterr().out
