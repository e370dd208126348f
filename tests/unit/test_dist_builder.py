"""The Pyodide folder builder's reading of wheel requirements (tools/build_pyodide_dist.py)."""

from __future__ import annotations

import pytest

from tools.build_pyodide_dist import appliesOnlyWithAnExtra


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
