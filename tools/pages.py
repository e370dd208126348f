"""Builds real PyScript pages from a folder of Python files: the browser tests' pages, the benchmark, the probes.

A page is described by a :class:`PageSpec`: a folder of Python files, the main script, the named workers.
:func:`buildPage` writes the ``index.html`` and TOML configs and loads workerlib the way a self-hosting user would:
the built wheel and the pure wheels of wrapt and beartype unpacked through ``[files]``, and :mod:`pagekit` beside
the main script (how a page hands its results to whoever runs it).

Every script of a page runs on one Pyodide release, chosen when the page is built (``pyodide=``): by default
:data:`PYODIDE_DEFAULT`, 314.0.2, the interpreter PyScript 0.7.31 loads by itself (Python 3.14); or 0.29.5, which
PyScript 2026.1.x users run (Python 3.13). Both come from npm packages in ``node_modules`` (see
:data:`PYODIDE_RELEASES`), and a page built for a release other than the default goes to its own folder.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
PAGEKIT = Path(__file__).resolve().parent / "pagekit.py"
WHEELS = REPOSITORY / "build" / "wheels"
PYSCRIPT_URL = "/node_modules/@pyscript/core/dist/core.js"
WORKERLIB_WHEEL_PREFIX = "pyscript_workerlib-"
"""How workerlib's wheel file name starts: its distribution name, ``pyscript-workerlib``, as wheel names spell it."""


@dataclass(frozen=True)
class PyodideRelease:
    """A Pyodide release the pages can run on: the npm package folder serving it, and what it reports at run time."""

    version: str
    package: str
    """The folder under ``node_modules`` (``package.json`` names the npm alias ``pyodide-0.29`` for 0.29.5)."""
    python: str
    emscripten: str

    @property
    def url(self) -> str:
        """The URL of its ``pyodide.mjs``, which the pages' configs give as ``interpreter``."""
        return f"/node_modules/{self.package}/pyodide.mjs"

    @property
    def versions(self) -> dict[str, str]:
        """What ``workerlib.diagnostics.systemVersions`` reports on it, PyScript's version left out."""
        return {"Pyodide": self.version, "Python": self.python, "Emscripten": self.emscripten}


PYODIDE_RELEASES: dict[str, PyodideRelease] = {
    release.version: release
    for release in (
        PyodideRelease("314.0.2", package="pyodide", python="3.14.2", emscripten="5.0.3"),
        PyodideRelease("0.29.5", package="pyodide-0.29", python="3.13.2", emscripten="4.0.9"),
    )
}
PYODIDE_DEFAULT = "314.0.2"
"""The release every page runs on unless told otherwise: PyScript 0.7.31's own default interpreter."""


def pyodideRelease(version: str) -> PyodideRelease:
    """The release ``version``, checked against the npm package installed for it."""
    try:
        release = PYODIDE_RELEASES[version]
    except KeyError:
        raise ValueError(f"no Pyodide {version!r} here; known: {', '.join(PYODIDE_RELEASES)}") from None
    manifest = REPOSITORY / "node_modules" / release.package / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else "nothing"
    if installed != version:
        raise FileNotFoundError(
            f"node_modules/{release.package} holds {installed}, not Pyodide {version}: run 'make npm' (npm ci)"
        )
    return release


@dataclass(frozen=True)
class WorkerSpec:
    """One ``<script type="py" worker name=...>`` tag."""

    name: str
    src: str = "worker.py"
    syncMainOnly: bool = False
    files: Sequence[str] = ()
    """Files of the page's folder only this worker's ``[files]`` lists (beside the page's ``shared`` ones)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """More of this worker's config: a dict value is written as a TOML table (``[adapters]``), others as keys."""


@dataclass(frozen=True)
class PageSpec:
    """A page: its folder (under the ``pages`` folder :func:`buildPage` is given), main script, workers and files
    shared by all scripts."""

    folder: str
    main: str = "main.py"
    workers: Sequence[WorkerSpec] = ()
    shared: Sequence[str] = ()
    title: str = "workerlib test page"
    timeout: float | None = None
    """Seconds the page may take to report, when its own work is long (the ``runPage`` default otherwise)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """More of the main script's config, written as :attr:`WorkerSpec.config` is."""
    packageFile: Path | None = None
    """A remote package file (``make dist``'s ``workerlib.toml``) every script loads workerlib and wrapt from, through
    ``packages`` with ``packages_cache = "passthrough"``, instead of the wheels in ``[files]`` (beartype left out)."""


def wheelUrls() -> list[str]:
    """Server URLs of the wheels every script unpacks: workerlib's own and the pure-Python wheels of wrapt and beartype.

    beartype is optional for workerlib; it is there so pages can check ``typechecked`` in main and workers.
    """
    urls = []
    # workerlib's wheel is named after its distribution, pyscript-workerlib (``workerlib`` on PyPI is another project).
    for prefix in (WORKERLIB_WHEEL_PREFIX, "wrapt-", "beartype-"):
        found = sorted(WHEELS.glob(f"{prefix}*-py3-none-any.whl"))
        if not found:
            raise FileNotFoundError(f"no {prefix}*.whl in {WHEELS}: run 'make wheels' first")
        urls.append("/" + found[-1].relative_to(REPOSITORY).as_posix())
    return urls


def url(path: Path) -> str:
    """The server URL path of a file of the repository (the dev server serves the repository's root)."""
    return "/" + path.resolve().relative_to(REPOSITORY).as_posix()


def _config(interpreter: str, files: Mapping[str, str], extra: Mapping[str, Any]) -> str:
    # JSON strings, numbers, booleans and arrays of them are TOML too; a dict becomes a table of its own.
    lines = [f"interpreter = {json.dumps(interpreter)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items() if not isinstance(value, Mapping)]
    tables = {"files": files, **{key: value for key, value in extra.items() if isinstance(value, Mapping)}}
    for table, entries in tables.items():
        lines += ["", f"[{table}]"]
        lines += [f"{json.dumps(key)} = {json.dumps(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def builtFolder(spec: PageSpec, built: Path, pyodide: str = PYODIDE_DEFAULT) -> Path:
    """Where :func:`buildPage` writes the page: ``<built>/<folder>``, ``<folder>-pyodide-<version>`` off default."""
    name = spec.folder if pyodide == PYODIDE_DEFAULT else f"{spec.folder}-pyodide-{pyodide}"
    return built / name


def buildPage(spec: PageSpec, *, pages: Path, built: Path, pyodide: str = PYODIDE_DEFAULT) -> str:
    """Write the page ``pages / spec.folder`` into ``built`` (every script on Pyodide ``pyodide``): its HTML and
    configs; return its URL path."""
    interpreter = pyodideRelease(pyodide).url
    source = pages / spec.folder
    out = builtFolder(spec, built, pyodide)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    loading: dict[str, Any] = {}
    if spec.packageFile is None:
        files.update(dict.fromkeys(wheelUrls(), "./*"))
    elif not spec.packageFile.is_file():
        raise FileNotFoundError(f"no {spec.packageFile}: run 'make dist' first")
    else:
        # Relative to the config: PyScript 0.7.31 resolves the file's own [files] against the entry as written, which
        # works for "./x" and "../x" (made absolute first) but fails for "/x" ("Invalid base URL").
        relative = os.path.relpath(spec.packageFile.resolve(), out.resolve())
        # Without "passthrough" PyScript loads micropip after reading the file, and micropip is only on Pyodide's CDN.
        loading = {"packages": [Path(relative).as_posix()], "packages_cache": "passthrough"}
    files.update({url(source / name): f"./{Path(name).name}" for name in spec.shared})
    mainFiles = {**files, url(PAGEKIT): "./pagekit.py"}
    (out / "main.toml").write_text(_config(interpreter, mainFiles, {**loading, **spec.config}))
    tags = []
    for worker in spec.workers:
        extra = {**loading, **({"sync_main_only": True} if worker.syncMainOnly else {}), **worker.config}
        own = {url(source / name): f"./{Path(name).name}" for name in worker.files}
        (out / f"{worker.name}.toml").write_text(_config(interpreter, {**files, **own}, extra))
        tags.append(
            f'<script type="py" worker name="{html.escape(worker.name)}" '
            f'src="{url(source / worker.src)}" config="./{html.escape(worker.name)}.toml"></script>'
        )
    tags.append(f'<script type="py" src="{url(source / spec.main)}" config="./main.toml"></script>')
    (out / "index.html").write_text(
        "<!doctype html>\n<html>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(spec.title)}</title>\n"
        f'<script type="module" src="{PYSCRIPT_URL}"></script>\n'
        "</head>\n<body>\n" + "\n".join(tags) + "\n</body>\n</html>\n"
    )
    return url(out) + "/index.html"
