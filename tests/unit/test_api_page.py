"""The API reference (docs/api.rst) describes every public name once, under one anchor, and no internals: built
with Sphinx here, and read from the inventory of what it documented (``objects.inv``)."""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest
from sphinx.cmd.build import build_main
from sphinx.util.inventory import InventoryFile

import workerlib

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every Python object the built docs describe, by full name, with the anchor of its description."""
    out = tmp_path_factory.mktemp("docs")
    assert build_main(["-q", "-W", "--keep-going", "-b", "html", str(DOCS), str(out)]) == 0
    with (out / "objects.inv").open("rb") as stream:
        inventory = InventoryFile.load(stream, "", posixpath.join)
    return {
        name: item.uri for kind, items in inventory.items() if kind.startswith("py:") for name, item in items.items()
    }


PUBLIC = [name for name in workerlib.__all__ if not name.startswith("__")]


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_is_described_exactly_once(documented: dict[str, str], name: str) -> None:
    # A class documented as workerlib.Call is also listed under its canonical name (workerlib.calls.Call), with the
    # same anchor: one description. Two anchors would be two descriptions.
    anchors = {
        uri
        for full, uri in documented.items()
        if full.startswith("workerlib.") and full.split(".")[-1] == name and full.count(".") <= 2
    }
    assert len(anchors) == 1, f"{name} is described {len(anchors)} times: {sorted(anchors)}"


@pytest.mark.parametrize(
    "internal", ["workerlib.Call.send", "workerlib.Call.throw", "workerlib.Call.__init__", "workerlib.Stream.__anext__"]
)
def test_coroutine_plumbing_is_not_shown_as_api(documented: dict[str, str], internal: str) -> None:
    assert internal not in documented
