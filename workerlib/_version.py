"""The distribution's name and version: at the bottom of the import ladder, so that any module may report them
without importing the package's ``__init__``."""

from __future__ import annotations

DISTRIBUTION = "pyscript-workerlib"
"""The name on PyPI and in ``pip install``; the import name is ``workerlib`` (on PyPI, ``workerlib`` is another
project)."""

VERSION = "0.1.0"
"""pyproject.toml's version, written here rather than read from the installed metadata: ``importlib.metadata`` pulls
in the ``email`` package, a quarter of a second of every worker's start in Pyodide (tests/unit/test_packaging.py checks
that the two agree, in the installed wheel)."""
