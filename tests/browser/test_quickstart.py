"""The quickstart works as written: its files, taken from docs/quickstart.rst's own code blocks, laid out as it says
(PyScript's whole npm package folder as ``pyscript/``, Pyodide's as ``pyodide/``, the two wheels under the names it
gives), served from a folder of their own, print what it says they print, with no error and no failed request."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tools.browser import Console
from tools.devserver import REPOSITORY, DevServer

QUICKSTART = REPOSITORY / "docs" / "quickstart.rst"
SITE = REPOSITORY / "build" / "quickstart-site"
WHEELS = REPOSITORY / "build" / "wheels"


def codeBlocks(text: str) -> list[tuple[str, str]]:
    """The ``.. code-block:: <language>`` blocks of a reStructuredText page, in order, dedented."""
    blocks = []
    for found in re.finditer(r"^\.\. code-block:: (\w+)\n\n((?:(?:   .*)?\n)+)", text, flags=re.M):
        body = "\n".join(line[3:] for line in found.group(2).splitlines()).strip("\n") + "\n"
        blocks.append((found.group(1), body))
    return blocks


@pytest.fixture(scope="module")
def site() -> Path:
    """The quickstart's folder, built from its page."""
    text = QUICKSTART.read_text()
    blocks = codeBlocks(text)
    html = [body for language, body in blocks if language == "html"]
    tomls = [body for language, body in blocks if language == "toml"]
    pythons = [body for language, body in blocks if language == "python"]
    assert [len(html), len(tomls), len(pythons)] == [1, 2, 2], [language for language, _ in blocks]
    if SITE.exists():
        shutil.rmtree(SITE)
    SITE.mkdir(parents=True)
    (SITE / "index.html").write_text(html[0])
    (SITE / "worker.toml").write_text(tomls[0])
    (SITE / "main.toml").write_text(tomls[1])
    (SITE / "worker.py").write_text(pythons[0])
    (SITE / "main.py").write_text(pythons[1])
    (SITE / "pyscript").symlink_to(REPOSITORY / "node_modules" / "@pyscript" / "core", target_is_directory=True)
    (SITE / "pyodide").symlink_to(REPOSITORY / "node_modules" / "pyodide", target_is_directory=True)
    (SITE / "wheels").mkdir()
    named = set(re.findall(r"\./wheels/([\w.-]+\.whl)", text))
    for name in named:
        built = WHEELS / name
        assert built.exists(), f"docs/quickstart.rst names {name}, which make wheels did not build: update the page"
        shutil.copy(built, SITE / "wheels" / name)
    return SITE


@pytest.fixture(scope="module")
def siteServer(site: Path) -> Iterator[DevServer]:
    with DevServer(isolated=True, root=site) as running:
        yield running


def test_the_quickstart_runs_as_written_with_a_clean_console(browser: Browser, siteServer: DevServer) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        console = Console(page)
        failed: list[str] = []
        context.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
        context.on("requestfailed", lambda request: failed.append(request.url))
        # The page publishes no result: its last printed line is its result (registered before the page loads, so
        # it cannot be missed). A Python traceback or an error banner would come instead; the timeout then fails.
        with page.expect_console_message(lambda message: message.text == "2.25", timeout=90_000):
            page.goto(siteServer.origin + "/")
        lines = console.lines
    finally:
        context.close()
    printed = [line for line in lines if line.startswith("[log]")]
    assert printed[-2:] == ["[log] 3", "[log] 2.25"], lines
    assert not [line for line in lines if line.startswith(("[error]", "[pageerror]", "[warning]"))], lines
    assert failed == [], failed
