"""Sphinx configuration for workerlib's documentation; the build runs offline with warnings as errors."""

from __future__ import annotations

import importlib.metadata

project = "workerlib"
author = "workerlib developers"
copyright = "workerlib developers"
release: str = importlib.metadata.version("pyscript-workerlib")  # the distribution; the package is workerlib
version: str = ".".join(release.split(".")[:2])

extensions: list[str] = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# No intersphinx: the build must not reach the network.
root_doc = "index"
exclude_patterns: list[str] = ["_build"]
templates_path: list[str] = []

autodoc_typehints = "description"
autodoc_member_order = "bysource"

napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"workerlib {release}"
