"""The Pyodide folder builder's reading of wheel requirements (tools/build_pyodide_dist.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tools.build_pyodide_dist import appliesOnlyWithAnExtra, lockEntry, readWheel, wheelKey


@pytest.mark.parametrize(
    ("marker", "onlyWithAnExtra"),
    [
        (" extra == 'dev'", True),
        (' extra == "docs" ', True),
        (" (sys_platform == 'linux' and python_version < '3.15.0') and extra == 'dev'", True),
        (" python_version < '3.15.0' and extra == 'test'", True),
        (" python_version < '3.12'", False),
        (" sys_platform == 'emscripten' or extra == 'dev'", False),
        (" (extra == 'dev' or python_version < '3.9')", False),
    ],
)
def test_requirements_of_extras_are_told_apart(marker: str, onlyWithAnExtra: bool) -> None:
    assert appliesOnlyWithAnExtra(marker) is onlyWithAnExtra


def test_a_wheel_is_keyed_by_its_distribution_and_imported_by_its_package(tmp_path: Path) -> None:
    # workerlib's distribution is pyscript-workerlib: the lock entry (what loadPackage is asked for) takes that name,
    # while the entry's imports still list the package a page imports.
    wheel = tmp_path / "pyscript_workerlib-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("workerlib/__init__.py", "")
        archive.writestr("workerlib/py.typed", "")
        archive.writestr(
            "pyscript_workerlib-0.1.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: pyscript-workerlib\nVersion: 0.1.0\nRequires-Dist: wrapt==2.5.2\n"
            "Requires-Dist: beartype==0.23.1; extra == 'typecheck'\n",
        )
    read = readWheel(wheel)
    assert wheelKey(wheel) == ("pyscript-workerlib", "0.1.0")
    assert (read.key, read.version, read.imports) == ("pyscript-workerlib", "0.1.0", ("workerlib",))
    entry = lockEntry(read)
    assert (entry["name"], entry["file_name"], entry["depends"]) == ("pyscript-workerlib", wheel.name, ["wrapt"])
