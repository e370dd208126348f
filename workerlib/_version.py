"""The installed distribution's version, read once: at the bottom of the import ladder, so that any module may
report it without importing the package's ``__init__``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "pyscript-workerlib"
"""The name on PyPI and in ``pip install``; the import name is ``workerlib`` (on PyPI, ``workerlib`` is another
project)."""

try:
    VERSION = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree never installed, or files copied without their .dist-info
    VERSION = "0+unknown"
